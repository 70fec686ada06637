"""Migration 0007_relay_log: the relay_log table and the camera-session owner columns, as the
models declare them, and back."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from vigil.db.models import Base
from vigil.db.session import MIGRATIONS_DIR, Database


def _downgrade(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _session_columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("camera_sessions")}


def test_0007_matches_the_models_and_goes_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    with db.engine.connect() as conn:
        ddl = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'relay_log'")
        ).scalar_one()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert "AUTOINCREMENT" in ddl  # an id is never handed out twice: listeners read id > seen
    assert [d for d in diffs if "relay_log" in repr(d) or "camera_sessions" in repr(d)] == []
    assert {"owner", "heartbeat_at"} <= _session_columns(db)
    _downgrade(db, "0006_maintainer")
    assert "relay_log" not in inspect(db.engine).get_table_names()
    assert not {"owner", "heartbeat_at"} & _session_columns(db)
    db.migrate()
    assert "relay_log" in inspect(db.engine).get_table_names()
    db.dispose()
