"""All queries go through these repositories. Each takes an open Session (from Database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Result, delete, func, select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Alert,
    AlertStatus,
    Authorization,
    AuthorizationStatus,
    FaceCount,
    Subject,
    Template,
    Watchlist,
)
from vigil.errors import Conflict, NotFound
from vigil.types import GalleryEntry


def _rowcount(result: Result[Any]) -> int:
    """Rows a DELETE/UPDATE touched (CursorResult.rowcount; 0 if the driver doesn't say)."""
    return int(getattr(result, "rowcount", 0) or 0)


class AuthorizationRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, auth: Authorization) -> Authorization:
        if self.s.scalar(select(Authorization.id).where(Authorization.reference == auth.reference)):
            raise Conflict(
                f"authorization {auth.reference!r} already exists", hint="use another reference"
            )
        self.s.add(auth)
        self.s.flush()
        return auth

    def get(self, reference: str) -> Authorization:
        found = self.s.scalar(select(Authorization).where(Authorization.reference == reference))
        if found is None:
            raise NotFound(f"no authorization {reference!r}", hint="see `vigil authorization list`")
        return found

    def get_by_id(self, auth_id: int) -> Authorization:
        found = self.s.get(Authorization, auth_id)
        if found is None:
            raise NotFound(f"no authorization with id {auth_id}")
        return found

    def list(self) -> Sequence[Authorization]:
        return self.s.scalars(select(Authorization).order_by(Authorization.id)).all()


class WatchlistRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, watchlist: Watchlist) -> Watchlist:
        if self.s.scalar(select(Watchlist.id).where(Watchlist.name == watchlist.name)):
            raise Conflict(f"watchlist {watchlist.name!r} already exists", hint="use another name")
        self.s.add(watchlist)
        self.s.flush()
        return watchlist

    def get(self, name: str) -> Watchlist:
        found = self.s.scalar(select(Watchlist).where(Watchlist.name == name))
        if found is None:
            raise NotFound(f"no watchlist {name!r}", hint="see `vigil watchlist list`")
        return found

    def get_by_id(self, watchlist_id: int) -> Watchlist:
        found = self.s.get(Watchlist, watchlist_id)
        if found is None:
            raise NotFound(f"no watchlist with id {watchlist_id}")
        return found

    def list(self) -> Sequence[Watchlist]:
        return self.s.scalars(select(Watchlist).order_by(Watchlist.id)).all()

    def for_authorization(self, auth_id: int) -> Sequence[Watchlist]:
        return self.s.scalars(select(Watchlist).where(Watchlist.authorization_id == auth_id)).all()

    def subject_count(self, watchlist_id: int) -> int:
        return (
            self.s.scalar(
                select(func.count(Subject.id)).where(Subject.watchlist_id == watchlist_id)
            )
            or 0
        )


class SubjectRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, subject: Subject) -> Subject:
        exists = self.s.scalar(
            select(Subject.id).where(
                Subject.watchlist_id == subject.watchlist_id, Subject.name == subject.name
            )
        )
        if exists:
            raise Conflict(f"subject {subject.name!r} is already in this watchlist")
        self.s.add(subject)
        self.s.flush()
        return subject

    def find(self, watchlist_id: int, name: str) -> Subject | None:
        return self.s.scalar(
            select(Subject).where(Subject.watchlist_id == watchlist_id, Subject.name == name)
        )

    def get(self, subject_id: int) -> Subject:
        found = self.s.get(Subject, subject_id)
        if found is None:
            raise NotFound(f"no subject with id {subject_id}")
        return found

    def list(self, watchlist_id: int) -> Sequence[Subject]:
        return self.s.scalars(
            select(Subject).where(Subject.watchlist_id == watchlist_id).order_by(Subject.id)
        ).all()

    def delete(self, subject: Subject) -> dict[str, int]:
        """Delete a subject with its templates and alerts (rows, not just flags)."""
        alerts = _rowcount(self.s.execute(delete(Alert).where(Alert.subject_id == subject.id)))
        templates = _rowcount(
            self.s.execute(delete(Template).where(Template.subject_id == subject.id))
        )
        self.s.delete(subject)
        self.s.flush()
        return {"alerts": alerts, "templates": templates, "subjects": 1}


class TemplateRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, template: Template) -> Template:
        self.s.add(template)
        self.s.flush()
        return template

    def all(self) -> Sequence[Template]:
        return self.s.scalars(select(Template).order_by(Template.id)).all()

    def first_for_subject(self, subject_id: int) -> Template | None:
        return self.s.scalar(
            select(Template).where(Template.subject_id == subject_id).order_by(Template.id)
        )


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


class AlertRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, alert: Alert) -> Alert:
        self.s.add(alert)
        self.s.flush()
        return alert

    def get(self, alert_id: int) -> Alert:
        found = self.s.get(Alert, alert_id)
        if found is None:
            raise NotFound(f"no alert with id {alert_id}")
        return found

    def list(
        self,
        *,
        camera: str | None = None,
        status: AlertStatus | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Alert]:
        q = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if camera:
            q = q.where(Alert.camera == camera)
        if status:
            q = q.where(Alert.status == status)
        if before_id:
            q = q.where(Alert.id < before_id)
        return self.s.scalars(q).all()

    def delete_for_authorization(self, auth_id: int) -> int:
        return _rowcount(self.s.execute(delete(Alert).where(Alert.authorization_id == auth_id)))


class CountRepo:
    """Aggregate per-camera per-minute counts: the only trace of unmatched faces."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(
        self, camera: str, minute: datetime, *, faces: int, tracks: int, embedded_tracks: int
    ) -> None:
        row = self.s.scalar(
            select(FaceCount).where(FaceCount.camera == camera, FaceCount.minute == minute)
        )
        if row is None:
            row = FaceCount(camera=camera, minute=minute, faces=0, tracks=0, embedded_tracks=0)
            self.s.add(row)
        row.faces += faces
        row.tracks += tracks
        row.embedded_tracks += embedded_tracks
        self.s.flush()

    def totals(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        q = select(
            func.coalesce(func.sum(FaceCount.faces), 0),
            func.coalesce(func.sum(FaceCount.tracks), 0),
            func.coalesce(func.sum(FaceCount.embedded_tracks), 0),
        )
        if start:
            q = q.where(FaceCount.minute >= start)
        if end:
            q = q.where(FaceCount.minute < end)
        faces, tracks, embedded = self.s.execute(q).one()
        return {"faces": int(faces), "tracks": int(tracks), "embedded_tracks": int(embedded)}
