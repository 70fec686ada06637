"""The matchable gallery: templates under active, unexpired authorizations, read in batches.

Every read selects columns, never the ORM rows: the sealed enrolled photo is not loaded, and
templates stream in batches of ``batch`` rows (``yield_per``) so that a million-template
gallery never sits in memory twice. The cheap cursors (:meth:`GalleryRepo.max_template_id`,
:meth:`GalleryRepo.max_audit_id`, :meth:`GalleryRepo.authority`) let a running gallery follow
changes by polling without re-reading the templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vigil.db.models import AuditEvent, Authorization, Subject, Template, Watchlist
from vigil.domain.enums import AuthorizationStatus
from vigil.types import GalleryEntry

BATCH = 5000


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    entry: GalleryEntry
    vector: bytes  # as stored (sealed when encrypted)
    encrypted: bool


@dataclass(frozen=True, slots=True)
class WatchlistAuthority:
    """One watchlist bound to an active, unexpired authorization, with that authority's scope."""

    watchlist_id: int
    watchlist_name: str
    authorization_id: int
    authorization_reference: str
    valid_from: datetime
    expires_at: datetime
    cameras: tuple[str, ...] | None


_COLUMNS = (
    Template.id,
    Template.vector,
    Template.encrypted,
    Subject.id,
    Subject.name,
    Watchlist.id,
    Watchlist.name,
    Authorization.id,
    Authorization.reference,
    Authorization.valid_from,
    Authorization.expires_at,
    Authorization.cameras,
)


def _stored(row: Any) -> StoredTemplate:
    (tid, vector, encrypted, sid, sname, wid, wname, aid, ref, valid_from, expires, cams) = row
    entry = GalleryEntry(
        template_id=tid,
        subject_id=sid,
        subject_name=sname,
        watchlist_id=wid,
        watchlist_name=wname,
        authorization_id=aid,
        authorization_reference=ref,
        valid_from=valid_from,
        expires_at=expires,
        cameras=tuple(cams) if cams else None,
    )
    return StoredTemplate(entry, vector, encrypted)


class GalleryRepo:
    """Loads the templates that may be matched: only under ACTIVE authorizations not yet expired."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def _active(self, query: Any, pack: str, now: datetime) -> Select[Any]:
        return (
            query.join(Subject, Template.subject_id == Subject.id)
            .join(Watchlist, Subject.watchlist_id == Watchlist.id)
            .join(Authorization, Watchlist.authorization_id == Authorization.id)
            .where(
                Template.pack == pack,
                Authorization.status == AuthorizationStatus.active,
                Authorization.expires_at > now,
            )
        )

    def stream_templates(
        self,
        pack: str,
        now: datetime,
        *,
        after_id: int = 0,
        watchlists: Iterable[int] | None = None,
        template_ids: Iterable[int] | None = None,
        batch: int = BATCH,
    ) -> Iterator[list[StoredTemplate]]:
        """Active templates in batches, by id; optionally newer than ``after_id``, only of
        some watchlists, or only some ids."""
        query = self._active(select(*_COLUMNS), pack, now).where(Template.id > after_id)
        if watchlists is not None:
            query = query.where(Watchlist.id.in_(list(watchlists)))
        if template_ids is not None:
            query = query.where(Template.id.in_(list(template_ids)))
        result = self.s.execute(query.order_by(Template.id).execution_options(yield_per=batch))
        for rows in result.partitions():
            yield [_stored(r) for r in rows]

    def active_templates(self, pack: str, now: datetime) -> list[StoredTemplate]:
        return [t for part in self.stream_templates(pack, now) for t in part]

    def active_template_ids(self, pack: str, now: datetime, batch: int = 50_000) -> set[int]:
        """Ids of the active templates (no vectors): the reconcile's view of the database."""
        query = self._active(select(Template.id), pack, now)
        result = self.s.execute(query.execution_options(yield_per=batch)).scalars()
        return set(result)

    def active_subject_count(self, pack: str, now: datetime) -> int:
        """How many distinct subjects have a template of ``pack`` that may be matched."""
        query = self._active(select(func.count(func.distinct(Template.subject_id))), pack, now)
        return int(self.s.scalar(query) or 0)

    def authority(self, now: datetime) -> list[WatchlistAuthority]:
        """Every watchlist under an active, unexpired authorization (a few rows)."""
        rows = self.s.execute(
            select(
                Watchlist.id,
                Watchlist.name,
                Authorization.id,
                Authorization.reference,
                Authorization.valid_from,
                Authorization.expires_at,
                Authorization.cameras,
            )
            .join(Authorization, Watchlist.authorization_id == Authorization.id)
            .where(
                Authorization.status == AuthorizationStatus.active,
                Authorization.expires_at > now,
            )
        ).all()
        return [
            WatchlistAuthority(wid, wname, aid, ref, start, end, tuple(cams) if cams else None)
            for wid, wname, aid, ref, start, end, cams in rows
        ]

    def max_template_id(self, pack: str) -> int:
        return int(self.s.scalar(select(func.max(Template.id)).where(Template.pack == pack)) or 0)

    def max_audit_id(self) -> int:
        return int(self.s.scalar(select(func.max(AuditEvent.id))) or 0)

    def audit_actions_after(self, audit_id: int, limit: int = 10_000) -> list[str]:
        """The actions recorded after ``audit_id`` (the change cursor for removals)."""
        rows = self.s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.id > audit_id)
            .order_by(AuditEvent.id)
            .limit(limit)
        )
        return list(rows)
