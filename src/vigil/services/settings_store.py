"""Runtime settings changed from the command center (the ``settings`` table), audited."""

from __future__ import annotations

from vigil.accountability import audit
from vigil.db.models import Setting
from vigil.db.session import Database
from vigil.timeutil import utcnow


def get_setting(db: Database, key: str, default: str) -> str:
    with db.read() as s:
        row = s.get(Setting, key)
        return row.value if row is not None else default


def set_setting(db: Database, key: str, value: str, *, actor: str) -> None:
    """Store ``value``; audit ``settings.change`` with old and new value (same transaction)."""
    with db.write() as s:
        row = s.get(Setting, key)
        old = row.value if row is not None else None
        if row is None:
            s.add(Setting(key=key, value=value, updated_at=utcnow(), updated_by=actor))
        else:
            row.value, row.updated_at, row.updated_by = value, utcnow(), actor
        audit.record(
            s, actor=actor, action="settings.change", target=key, details={"from": old, "to": value}
        )
