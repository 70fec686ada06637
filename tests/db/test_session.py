import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from vigil.db.models import Setting
from vigil.db.session import Database
from vigil.errors import StorageError


def test_migrate_is_idempotent_and_creates_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    db.migrate()
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "authorizations",
        "watchlists",
        "subjects",
        "templates",
        "alerts",
        "face_counts",
        "audit_events",
        "users",
        "alembic_version",
    } <= tables
    # No table could hold unmatched faces or tracks.
    assert not any("track" in t or "stranger" in t or "probe" in t for t in tables)


@pytest.mark.sqlite_only
def test_sqlite_pragmas_secure_delete_and_foreign_keys(db: Database) -> None:
    with db.read() as s:
        assert s.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_single_writer_serialises_concurrent_writes(db: Database) -> None:
    def bump(n: int) -> None:
        for i in range(20):
            with db.write() as s:
                s.add(Setting(key=f"k{n}-{i}", value="v"))

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as s:
        assert len(s.scalars(select(Setting)).all()) == 80


def test_failed_write_rolls_back_and_names_the_fix(db: Database) -> None:
    with db.write() as s:
        s.add(Setting(key="a", value="1"))
    with pytest.raises(StorageError, match="vigil migrate"), db.write() as s:
        s.add(Setting(key="a", value="2"))  # duplicate primary key
    with db.read() as s:
        assert s.get(Setting, "a").value == "1"


def test_unwritable_home_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="VIGIL_HOME"):
        Database(f"sqlite:///{blocker / 'sub' / 'v.db'}")


def _try_write_lock(path: Path) -> bool:
    """Whether another connection (another process, in effect) can take the write lock now."""
    import sqlite3

    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def test_write_transactions_take_the_lock_at_begin_and_reads_never(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a write transaction that has only read so far (the audit chain reads
    its head first) already excludes other processes' writers; a read transaction does not."""
    path = tmp_path / "v.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    try:
        with db.read() as s:
            s.execute(select(Setting)).all()
            assert _try_write_lock(path)
        with db.write() as s:
            s.execute(select(Setting)).all()
            assert not _try_write_lock(path)
        assert _try_write_lock(path)
    finally:
        db.dispose()


def test_migration_0002_adds_the_durable_state_tables_and_goes_back(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from vigil.db.session import MIGRATIONS_DIR

    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    durable = {"login_sessions", "login_throttle", "outbox"}
    assert durable <= set(inspect(db.engine).get_table_names())
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert not durable & set(inspect(db.engine).get_table_names())
    db.migrate()
    assert durable <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_checkpoint_runs_outside_a_transaction(db: Database) -> None:
    with db.write() as s:
        s.add(Setting(key="a", value="1"))
    db.checkpoint()  # SQLite refuses a WAL checkpoint inside a transaction
    with db.read() as s:
        assert s.get(Setting, "a").value == "1"
