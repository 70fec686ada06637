"""Runtime settings changed from the command center (the ``settings`` table), audited."""

from __future__ import annotations

from vigil.accountability import audit
from vigil.db.session import Database
from vigil.repositories.settings import SettingRepo


def get_setting(db: Database, key: str, default: str) -> str:
    with db.read() as s:
        value = SettingRepo(s).value(key)
    return value if value is not None else default


def set_setting(db: Database, key: str, value: str, *, actor: str) -> None:
    """Store ``value``; audit ``settings.change`` with old and new value (same transaction)."""
    with db.write() as s:
        old = SettingRepo(s).put(key, value, actor=actor)
        audit.record(
            s, actor=actor, action="settings.change", target=key, details={"from": old, "to": value}
        )
