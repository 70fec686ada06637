"""Migration 0009_sighting_review: a sighting's rejection and a confirmation's sightings, as the
models declare them, and back."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vigil.db.models import Base
from vigil.db.session import MIGRATIONS_DIR, Database

SIGHTING = {"template_id", "rejected_at", "rejected_by", "rejection_reason"}
REVIEW = {"sightings", "superseded_at"}


def _columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def _downgrade(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_0007_adds_the_review_columns_as_the_models_declare_and_goes_back(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    assert _columns(db, "alert_sightings") >= SIGHTING and _columns(db, "reviews") >= REVIEW
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "alert_sightings" in repr(d) or "reviews" in repr(d)] == []
    _downgrade(db, "0006_maintainer")
    assert not SIGHTING & _columns(db, "alert_sightings")
    assert not REVIEW & _columns(db, "reviews")
    db.migrate()
    assert _columns(db, "alert_sightings") >= SIGHTING and _columns(db, "reviews") >= REVIEW
    db.dispose()
