"""The ``settings`` table: runtime settings and calibrated thresholds, by key."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.db.models import Setting
from vigil.timeutil import utcnow


class SettingRepo:
    """Reads and writes ``settings`` rows; :meth:`put` returns the value it replaced."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, key: str) -> Setting | None:
        return self.s.get(Setting, key)

    def value(self, key: str) -> str | None:
        row = self.get(key)
        return row.value if row is not None else None

    def put(self, key: str, value: str, *, actor: str) -> str | None:
        """Store ``value`` under ``key`` (stamped with ``actor`` and now); the old value or None."""
        row = self.get(key)
        if row is None:
            self.s.add(Setting(key=key, value=value, updated_at=utcnow(), updated_by=actor))
            self.s.flush()
            return None
        old = row.value
        row.value, row.updated_at, row.updated_by = value, utcnow(), actor
        return old
