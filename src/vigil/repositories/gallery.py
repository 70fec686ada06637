"""The matchable gallery: templates under active, unexpired authorizations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Authorization,
    Subject,
    Template,
    Watchlist,
)
from vigil.domain.enums import AuthorizationStatus
from vigil.types import GalleryEntry


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    entry: GalleryEntry
    vector: bytes  # as stored (sealed when encrypted)
    encrypted: bool


class GalleryRepo:
    """Loads the templates that may be matched: only under ACTIVE authorizations not yet expired."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def active_templates(self, pack: str, now: datetime) -> list[StoredTemplate]:
        rows = self.s.execute(
            select(Template, Subject, Watchlist, Authorization)
            .join(Subject, Template.subject_id == Subject.id)
            .join(Watchlist, Subject.watchlist_id == Watchlist.id)
            .join(Authorization, Watchlist.authorization_id == Authorization.id)
            .where(
                Template.pack == pack,
                Authorization.status == AuthorizationStatus.active,
                Authorization.expires_at > now,
            )
            .order_by(Template.id)  # one order on every database (PostgreSQL has no implicit one)
        ).all()
        out = []
        for tpl, subj, wl, auth in rows:
            entry = GalleryEntry(
                template_id=tpl.id,
                subject_id=subj.id,
                subject_name=subj.name,
                watchlist_id=wl.id,
                watchlist_name=wl.name,
                authorization_id=auth.id,
                authorization_reference=auth.reference,
                valid_from=auth.valid_from,
                expires_at=auth.expires_at,
                cameras=tuple(auth.cameras) if auth.cameras else None,
            )
            out.append(StoredTemplate(entry, tpl.vector, tpl.encrypted))
        return out
