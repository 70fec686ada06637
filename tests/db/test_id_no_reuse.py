"""Ids of audited entities are never reused (issue 13, Medium 5): SQLite would hand a purged
alert's id to the next alert (rowid reuse), mixing two people in the audit history of `alert:N`.
Checked on a fresh database and on one migrated from 0002 with rows (and a purge) in it."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from alert_rows import add_alert_row
from db.legacy_0002 import migrate_to, seed
from vigil.accountability.signing import settings_signer
from vigil.config import Settings
from vigil.context import AppContext
from vigil.db.models import Alert, Authorization, Base, Subject
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.services.authorizations import AuthorizationService


def _purge_alert(db: Database, alert_id: int) -> None:
    """Revoke the alert's authorization: its alert and subject are deleted."""
    with db.read() as s:
        reference = s.scalar(
            select(Authorization.reference)
            .join(Alert, Alert.authorization_id == Authorization.id)
            .where(Alert.id == alert_id)
        )
    assert reference is not None
    AuthorizationService(db).end(reference, AuthorizationStatus.revoked, actor="test")


def _subject_of(db: Database, alert_id: int) -> int:
    with db.read() as s:
        subject_id = s.scalar(select(Alert.subject_id).where(Alert.id == alert_id))
    assert subject_id is not None
    return subject_id


@pytest.fixture()
def database_url(empty_database_url: str | None) -> str | None:
    """These tests start at revision 0002: on PostgreSQL the database must begin empty."""
    return empty_database_url


def test_a_purged_alert_and_subject_keep_their_ids_on_a_fresh_database(db: Database) -> None:
    first = add_alert_row(db, AlertStatus.candidate)
    first_subject = _subject_of(db, first)
    _purge_alert(db, first)  # the newest alert and subject: exactly the rowids SQLite reuses

    second = add_alert_row(db, AlertStatus.candidate)

    assert second > first
    assert _subject_of(db, second) > first_subject


@pytest.mark.sqlite_only
def test_every_table_with_an_integer_id_is_autoincrement_on_sqlite(db: Database) -> None:
    """All but the aggregate counts and the audit log (whose ids the chain assigns)."""
    exempt = {"face_counts", "audit_events"}
    with db.read() as s:
        sql = dict(s.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'")).all())
    with_int_id = [
        t.name
        for t in Base.metadata.sorted_tables
        if "id" in t.c and t.c.id.primary_key and t.name not in exempt
    ]
    assert "alerts" in with_int_id and "subjects" in with_int_id
    assert [t for t in with_int_id if "AUTOINCREMENT" not in sql[t]] == []


@pytest.mark.sqlite_only  # rowid reuse is SQLite's; PostgreSQL sequences never go back
def test_migrating_from_0002_keeps_rows_and_never_reuses_a_purged_id(
    settings: Settings, make_context
) -> None:
    migrate_to(settings.db_url, "0002")
    legacy_db = Database(settings.db_url)
    legacy = seed(legacy_db, settings_signer(settings))
    legacy_db.dispose()

    ctx: AppContext = make_context(settings)  # migrates to head

    with ctx.db.read() as s:
        assert s.scalars(select(Alert.id)).all() == [1]  # the data survived the table rebuilds
        assert s.scalars(select(Subject.name)).all() == ["Jane Roe"]
        assert s.execute(text("PRAGMA foreign_key_check")).all() == []
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on after migrating
        assert "AUTOINCREMENT" in s.scalar(
            text("SELECT sql FROM sqlite_master WHERE name = 'alerts'")
        )
    # Alert 3 was purged before the migration (max(id) is 1 now): the audit still names it.
    new_alert = add_alert_row(ctx.db, AlertStatus.candidate)
    assert new_alert == legacy.last_alert_id + 1
    # (John Doe's subject id 2 may be given again: 0002 named subjects by name, and those names
    # are now references whose keys never existed; no audit record names subject 2.)
    new_subject = _subject_of(ctx.db, new_alert)
    assert new_subject > legacy.jane_id
    _purge_alert(ctx.db, new_alert)  # and from now on the migrated tables never reuse an id
    newer = add_alert_row(ctx.db, AlertStatus.candidate)
    assert newer == new_alert + 1 and _subject_of(ctx.db, newer) == new_subject + 1


@pytest.mark.parametrize("table", ["alerts", "subjects", "templates", "users", "api_tokens"])
def test_the_models_declare_autoincrement(table: str) -> None:
    """New databases get it from the models (create_all in tools, alembic autogenerate)."""
    assert Base.metadata.tables[table].kwargs.get("sqlite_autoincrement") is True
    assert inspect(Base.metadata.tables[table]) is not None
