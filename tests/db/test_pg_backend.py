"""PostgreSQL as the system of record: migrations from an empty database, the audit chain with
writers in several processes, and a purge that leaves no biometric bytes in the table files.

Real PostgreSQL (tests/pg_server.py); these tests are PostgreSQL-only by construction.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from pg_seed import enroll_under
from pg_server import PgCluster
from vigil.accountability import audit
from vigil.config import Settings, load_settings, settings_environment
from vigil.context import AppContext, build_context
from vigil.db.models import Base
from vigil.db.session import Database

WRITERS = 4
RECORDS_PER_WRITER = 40


@pytest.fixture()
def pg_settings(vigil_home: Path, pg_database: str) -> Settings:
    return load_settings({"VIGIL_HOME": str(vigil_home), "VIGIL_DATABASE_URL": pg_database})


@pytest.fixture()
def pg_context(pg_settings: Settings) -> Iterator[AppContext]:
    context = build_context(pg_settings)
    yield context
    context.close()


@pytest.fixture()
def empty_pg(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create_database(migrated=False)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


def test_migrations_upgrade_an_empty_postgresql_database_to_head(empty_pg: str) -> None:
    db = Database(empty_pg)
    try:
        assert inspect(db.engine).get_table_names() == []
        db.migrate()
        db.migrate()  # idempotent
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with db.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        from alembic.script import ScriptDirectory

        from vigil.db.session import MIGRATIONS_DIR

        heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
        assert [version] == heads
    finally:
        db.dispose()


def _append(url: str, writer: int, count: int, start: multiprocessing.synchronize.Event) -> None:
    db = Database(url)
    start.wait(30)
    try:
        for i in range(count):
            with db.write() as s:
                audit.record(s, actor=f"writer{writer}", action="test.concurrent", target=str(i))
    finally:
        db.dispose()


def test_the_audit_chain_stays_linear_with_four_writer_processes(
    pg_context: AppContext, pg_settings: Settings
) -> None:
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    workers = [
        spawn.Process(target=_append, args=(pg_settings.db_url, w, RECORDS_PER_WRITER, start))
        for w in range(WRITERS)
    ]
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0] * WRITERS
    with pg_context.db.read() as s:
        rows = s.execute(
            text("SELECT id, actor FROM audit_events WHERE action = 'test.concurrent' ORDER BY id")
        ).all()
    assert len(rows) == WRITERS * RECORDS_PER_WRITER
    assert len({actor for _, actor in rows}) == WRITERS  # every process appended
    from vigil.cli.main import app

    result = CliRunner().invoke(app, ["audit", "verify"], env=settings_environment(pg_settings))
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output


# --- purge: no biometric bytes left in the table files -------------------------------------


def _sealed_blobs(context: AppContext, reference: str) -> list[bytes]:
    sql = text(
        "SELECT t.vector, t.photo FROM templates t JOIN subjects s ON s.id = t.subject_id "
        "JOIN watchlists w ON w.id = s.watchlist_id JOIN authorizations a "
        "ON a.id = w.authorization_id WHERE a.reference = :ref"
    )
    with context.db.read() as s:
        rows = s.execute(sql, {"ref": reference}).all()
    return [bytes(b) for row in rows for b in row if b]


def _table_files(context: AppContext, cluster: PgCluster, *tables: str) -> bytes:
    """The bytes of these tables' files and their TOAST tables' files, after a CHECKPOINT."""
    with context.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")
        paths = conn.execute(
            text(
                "SELECT pg_relation_filepath(c.oid), pg_relation_filepath(c.reltoastrelid) "
                "FROM pg_class c WHERE c.relname = ANY(:names)"
            ),
            {"names": list(tables)},
        ).all()
    files = [cluster.relation_path(p) for row in paths for p in row if p]
    assert len(files) == 2 * len(tables)  # each table has a TOAST table
    return b"".join(f.read_bytes() for f in files if f.exists())


def _slices(blob: bytes) -> list[bytes]:
    """Three 24-byte pieces of a sealed blob (start, middle, end): TOAST stores it in chunks."""
    mid = len(blob) // 2
    return [blob[:24], blob[mid : mid + 24], blob[-24:]]


def test_a_purge_leaves_no_biometric_bytes_in_the_table_files(
    pg_context: AppContext, pg_cluster: PgCluster
) -> None:
    from vigil.domain.enums import AuthorizationStatus
    from vigil.services.authorizations import AuthorizationService

    enroll_under(pg_context, "ORDER-KEPT", 2)  # rows that stay: the table is not emptied
    enroll_under(pg_context, "ORDER-GONE", 3)
    gone = _sealed_blobs(pg_context, "ORDER-GONE")
    kept = _sealed_blobs(pg_context, "ORDER-KEPT")
    assert len(gone) == 6 and len(kept) == 4
    before = _table_files(pg_context, pg_cluster, "templates", "alerts")
    assert all(piece in before for blob in gone for piece in _slices(blob))  # the probe works

    AuthorizationService(pg_context.db).end("ORDER-GONE", AuthorizationStatus.revoked, actor="test")

    after = _table_files(pg_context, pg_cluster, "templates", "alerts")
    left = [i for i, blob in enumerate(gone) if any(p in after for p in _slices(blob))]
    assert left == [], f"sealed biometric blobs {left} still in the table files after the purge"
    assert all(piece in after for blob in kept for piece in _slices(blob))
