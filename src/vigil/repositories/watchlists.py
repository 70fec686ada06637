"""Watchlists, their subjects and the subjects' templates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Alert,
    Subject,
    Template,
    Watchlist,
)
from vigil.errors import Conflict, NotFound
from vigil.repositories._rows import rowcount
from vigil.repositories.gallery_snapshots import SnapshotKeyRepo


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

    def delete_for_watchlist(self, watchlist_id: int) -> dict[str, int]:
        """Delete every subject of a watchlist with its templates and alerts, in three statements
        whatever their number (a revocation of 100,000 subjects must not go one by one). Rows
        that reference them (subject keys, sightings) go by the database's ON DELETE CASCADE."""
        ids = select(Subject.id).where(Subject.watchlist_id == watchlist_id)
        bulk = {"synchronize_session": False}
        SnapshotKeyRepo(self.s).delete_all()  # gallery snapshots held these templates
        alerts = rowcount(
            self.s.execute(delete(Alert).where(Alert.subject_id.in_(ids)).execution_options(**bulk))
        )
        templates = rowcount(
            self.s.execute(
                delete(Template).where(Template.subject_id.in_(ids)).execution_options(**bulk)
            )
        )
        subjects = rowcount(
            self.s.execute(
                delete(Subject)
                .where(Subject.watchlist_id == watchlist_id)
                .execution_options(**bulk)
            )
        )
        self.s.expire_all()  # loaded watchlists/subjects no longer match the rows
        return {"alerts": alerts, "templates": templates, "subjects": subjects}

    def delete(self, subject: Subject) -> dict[str, int]:
        """Delete a subject with its templates and alerts (rows, not just flags)."""
        SnapshotKeyRepo(self.s).delete_all()  # gallery snapshots held its templates
        alerts = rowcount(self.s.execute(delete(Alert).where(Alert.subject_id == subject.id)))
        templates = rowcount(
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
