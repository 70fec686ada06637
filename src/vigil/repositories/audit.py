"""The audit chain's rows: events (append, prune a prefix, search, stream) and head signatures.

Appends use Core statements on the session's connection (same transaction as the action they
record): audit rows are only ever written here, so no ORM autoflush is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from vigil.db.models import AuditEvent, AuditSignature
from vigil.repositories._rows import rowcount


@dataclass(frozen=True, slots=True)
class ChainLink:
    """An event's id and hash: enough to continue or sign the chain."""

    id: int
    hash: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One audit row as stored, for verification."""

    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    details: Mapping[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A search of the log, newest first. ``action`` matches exactly or as a dotted prefix."""

    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # paging: events older than this id
    limit: int = 100


class AuditRepo:
    """Queries of ``audit_events`` and ``audit_signatures``."""

    def __init__(self, session: Session) -> None:
        self.s = session

    # -- events ------------------------------------------------------------------------------
    def head(self) -> ChainLink | None:
        """The newest event, or None when the log is empty."""
        last = (
            self.s.connection()
            .execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
            .first()
        )
        return ChainLink(last.id, last.hash) if last else None

    def append(self, event: AuditEvent) -> None:
        """Insert a fully built (hashed) event in the caller's transaction."""
        self.s.connection().execute(
            insert(AuditEvent).values(
                id=event.id,
                ts=event.ts,
                actor=event.actor,
                action=event.action,
                target=event.target,
                details=event.details,
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
        )

    def first_id_since(self, cutoff: datetime) -> int | None:
        return self.s.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.ts >= cutoff))

    def id_range(self) -> tuple[int, int] | None:
        """(first id, last id), None when empty."""
        first = self.s.scalar(select(func.min(AuditEvent.id)))
        last = self.s.scalar(select(func.max(AuditEvent.id)))
        return (first, last) if first is not None and last is not None else None

    def hash_of(self, event_id: int) -> str | None:
        return self.s.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))

    def delete_through(self, event_id: int) -> int:
        """Delete every event with id <= ``event_id``; returns how many."""
        deleted = rowcount(self.s.execute(delete(AuditEvent).where(AuditEvent.id <= event_id)))
        self.s.flush()
        return deleted

    def search(self, q: AuditQuery) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(q.limit)
        if q.action:
            stmt = stmt.where(
                (AuditEvent.action == q.action) | AuditEvent.action.like(f"{q.action}.%")
            )
        if q.actor:
            stmt = stmt.where(AuditEvent.actor == q.actor)
        if q.since:
            stmt = stmt.where(AuditEvent.ts >= q.since)
        if q.until:
            stmt = stmt.where(AuditEvent.ts < q.until)
        if q.before_id:
            stmt = stmt.where(AuditEvent.id < q.before_id)
        return self.s.scalars(stmt).all()

    def events_after(self, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with id > ``after``, oldest first (for streaming the chain)."""
        rows = self.s.execute(
            select(
                AuditEvent.id,
                AuditEvent.ts,
                AuditEvent.actor,
                AuditEvent.action,
                AuditEvent.target,
                AuditEvent.details,
                AuditEvent.prev_hash,
                AuditEvent.hash,
            )
            .where(AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(limit)
        ).all()
        return [StoredEvent(*r) for r in rows]

    # -- signatures --------------------------------------------------------------------------
    def last_signature_like(self, prefix: str) -> AuditSignature | None:
        """The signature with the highest event id whose text starts with ``prefix``."""
        return self.s.scalar(
            select(AuditSignature)
            .where(AuditSignature.signature.like(f"{prefix}%"))
            .order_by(AuditSignature.event_id.desc())
            .limit(1)
        )

    def is_signed(self, link: ChainLink) -> bool:
        n = self.s.scalar(
            select(func.count(AuditSignature.id)).where(
                AuditSignature.event_id == link.id, AuditSignature.head_hash == link.hash
            )
        )
        return bool(n)

    def add_signature(self, row: AuditSignature) -> AuditSignature:
        self.s.add(row)
        self.s.flush()
        return row

    def signatures(self) -> Sequence[AuditSignature]:
        return self.s.scalars(select(AuditSignature).order_by(AuditSignature.id)).all()
