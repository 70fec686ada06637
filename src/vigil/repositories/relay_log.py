"""The relay log: alert events carried between command-center processes, read by id."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Insert, Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from vigil.db.models import RelayLogEntry


@functools.cache
def _insert() -> Insert:
    """The row insert (built once: the per-event cost is its execution only)."""
    table = cast(Table, RelayLogEntry.__table__)
    return insert(table).returning(table.c.id)


class RelayLogRepo:
    """Appends relay-log rows (inside a write transaction) and reads them after an id."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def append(self, *, origin: str, alert_id: int, kind: str, at: datetime, now: datetime) -> int:
        """One row, inserted now (one Core statement, no unit-of-work flush); returns its id."""
        values = {"origin": origin, "alert_id": alert_id, "kind": kind, "at": at, "created_at": now}
        return int(self.s.execute(_insert(), values).scalar_one())

    def prune(self, before: datetime) -> int:
        """Delete the rows written before ``before``; returns how many."""
        result = self.s.execute(delete(RelayLogEntry).where(RelayLogEntry.created_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    def last_id(self) -> int:
        """The newest row's id (0 when the log is empty)."""
        return int(self.s.scalar(select(func.coalesce(func.max(RelayLogEntry.id), 0))) or 0)

    def after(self, last_id: int, limit: int) -> Sequence[RelayLogEntry]:
        """Up to ``limit`` rows with ``id > last_id``, oldest first."""
        return self.s.scalars(
            select(RelayLogEntry)
            .where(RelayLogEntry.id > last_id)
            .order_by(RelayLogEntry.id)
            .limit(limit)
        ).all()

    def notify(self, channel: str, payload: str) -> None:
        """PostgreSQL ``pg_notify``: sent when this transaction commits, never before."""
        self.s.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
