"""The per-subject keys of pseudonymous audit references (``subject_keys``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import Subject, SubjectKey, Watchlist


@dataclass(frozen=True, slots=True)
class LivingKey:
    """A living subject's key as stored (sealed when ``encrypted``) and who the subject is."""

    subject_id: int
    key: bytes
    encrypted: bool
    subject: str
    watchlist: str


class SubjectKeyRepo:
    """Rows of ``subject_keys``; a row goes with its subject (ON DELETE CASCADE)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, subject_id: int) -> SubjectKey | None:
        return self.s.get(SubjectKey, subject_id)

    def add(self, row: SubjectKey) -> SubjectKey:
        self.s.add(row)
        self.s.flush()
        return row

    def living(self) -> list[LivingKey]:
        """Every stored key with its subject's name and watchlist, in subject id order."""
        rows = self.s.execute(
            select(
                SubjectKey.subject_id,
                SubjectKey.key,
                SubjectKey.encrypted,
                Subject.name,
                Watchlist.name,
            )
            .join(Subject, Subject.id == SubjectKey.subject_id)
            .join(Watchlist, Watchlist.id == Subject.watchlist_id)
            .order_by(SubjectKey.subject_id)
        ).all()
        return [LivingKey(*r) for r in rows]

    def unsealed(self) -> Sequence[SubjectKey]:
        """Keys a migration stored before a data key was at hand (sealed at the next start)."""
        return self.s.scalars(select(SubjectKey).where(SubjectKey.encrypted.is_(False))).all()

    def after(self, subject_id: int, limit: int) -> Sequence[SubjectKey]:
        """The next ``limit`` keys with a subject id above ``subject_id`` (a keyset page)."""
        query = (
            select(SubjectKey)
            .where(SubjectKey.subject_id > subject_id)
            .order_by(SubjectKey.subject_id)
            .limit(limit)
        )
        return self.s.scalars(query).all()
