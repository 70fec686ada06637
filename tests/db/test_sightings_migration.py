"""Migration 0004_sightings: the alert_sightings table, as the models declare it, and back."""

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


def test_0004_creates_alert_sightings_as_the_models_declare_and_goes_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    assert "alert_sightings" in inspect(db.engine).get_table_names()
    with db.engine.connect() as conn:
        ddl = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'alert_sightings'")
        ).scalar_one()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert "AUTOINCREMENT" in ddl and "ON DELETE CASCADE" in ddl
    assert [d for d in diffs if "alert_sightings" in repr(d)] == []
    fks = inspect(db.engine).get_foreign_keys("alert_sightings")
    assert [(fk["referred_table"], fk["options"].get("ondelete")) for fk in fks] == [
        ("alerts", "CASCADE")
    ]
    _downgrade(db, "0003_ids")
    assert "alert_sightings" not in inspect(db.engine).get_table_names()
    db.migrate()
    assert "alert_sightings" in inspect(db.engine).get_table_names()
    db.dispose()
