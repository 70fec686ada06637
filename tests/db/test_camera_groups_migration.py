"""Migration camera_groups: existing cameras get the default group, the column and its index
match the models, and it goes back (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from db.legacy_0002 import migrate_to
from vigil.config import Settings
from vigil.db.models import Base
from vigil.db.session import MIGRATIONS_DIR, Database
from vigil.domain.camera_groups import DEFAULT_CAMERA_GROUP


@pytest.fixture()
def database_url(empty_database_url: str | None) -> str | None:
    """These tests start before the migration: on PostgreSQL the database must begin empty."""
    return empty_database_url


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _before_groups(url: str) -> str:
    """The revision before the one that adds camera groups (found by its file, so that the
    chain can be re-ordered)."""
    script = ScriptDirectory.from_config(_config(url))
    found = [r for r in script.walk_revisions() if r.path.endswith("_camera_groups.py")]
    assert len(found) == 1
    down = found[0].down_revision
    assert isinstance(down, str)
    return down


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("cameras")}


def test_existing_cameras_get_the_default_group_and_it_goes_back(settings: Settings) -> None:
    url = settings.db_url
    before = _before_groups(url)
    migrate_to(url, before)
    old = Database(url)
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cameras (name, url, max_fps, enabled, created_at) VALUES "
                "('gate', 'rtsp://10.0.0.5/s', 5.0, true, '2026-11-01 10:00:00.000000')"
            )
        )
    old.dispose()
    db = Database(url)
    db.migrate()
    try:
        with db.engine.connect() as conn:
            groups = conn.execute(text("SELECT name, camera_group FROM cameras")).all()
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [tuple(g) for g in groups] == [("gate", DEFAULT_CAMERA_GROUP)]
        assert [d for d in diffs if "cameras" in repr(d)] == []
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("cameras")}
        assert "ix_cameras_camera_group" in indexes
        with db.engine.begin() as conn:  # a camera added without a group gets the default too
            conn.execute(
                text(
                    "INSERT INTO cameras (name, url, max_fps, enabled, created_at) VALUES "
                    "('yard', 'rtsp://10.0.0.6/s', 5.0, true, '2026-11-01 10:00:00.000000')"
                )
            )
            assert conn.scalar(text("SELECT camera_group FROM cameras WHERE name = 'yard'")) == (
                DEFAULT_CAMERA_GROUP
            )
        command.downgrade(_config(url), before)
        assert "camera_group" not in _columns(db)
        db.migrate()
        assert "camera_group" in _columns(db)
    finally:
        db.dispose()
