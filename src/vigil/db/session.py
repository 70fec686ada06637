"""The database handle: one engine, many readers, exactly one writer at a time.

SQLite allows one writer; instead of letting threads race for the file lock, every write goes
through :meth:`Database.write`, which holds a process-wide lock for the transaction.

Several processes may share one SQLite file (two ``vigil serve``, a CLI command next to a
server). So that a read-then-write (the audit chain reads its head, then appends) cannot
interleave with another process's, every :meth:`Database.write` transaction on SQLite starts
with ``BEGIN IMMEDIATE``: it takes the database's write lock at the start (other writers wait, up
to ``busy_timeout``). Reads start with a plain deferred ``BEGIN`` and never wait for writers
(WAL). This is SQLAlchemy's pysqlite recipe: pysqlite's own implicit BEGIN is switched off
(``isolation_level = None``) and the ``begin`` event emits ours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
WRITE_OPTION = "vigil_write"  # execution option set on the engine that Database.write uses


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by pysqlite (which would BEGIN DEFERRED
    # lazily, before the first DML only, and commit before DDL).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # Deleted biometric rows are overwritten with zeros, not left in free pages.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for Database.write transactions (takes the write lock now), else BEGIN."""
    write = bool(conn.get_execution_options().get(WRITE_OPTION))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            path = url.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"cannot create the data folder for {path}: {exc.strerror}",
                        hint="set VIGIL_HOME to a writable folder",
                    ) from exc
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.RLock()

    @contextmanager
    def read(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
        except OperationalError as exc:
            raise StorageError(
                f"database read failed: {exc.orig}", hint="run `vigil migrate`"
            ) from exc
        finally:
            session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction under the single-writer lock; commits on success, rolls back on error."""
        with self._write_lock:
            session = self._factory(bind=self._write_engine)
            try:
                yield session
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                raise StorageError(
                    f"database write failed: {exc}", hint="run `vigil migrate`"
                ) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def checkpoint(self) -> None:
        """SQLite: move the write-ahead log into the database file and truncate it.

        Runs outside any transaction (SQLite refuses a checkpoint inside one), under the
        writer lock. Does nothing on other databases.
        """
        if not self.is_sqlite:
            return
        with self._write_lock:
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cur.close()
            except Exception as exc:  # sqlite3.Error: the driver's, not SQLAlchemy's
                raise StorageError(f"WAL checkpoint failed: {exc}", hint="try again") from exc
            finally:
                raw.close()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._write_lock, self._write_engine.connect() as conn:
            # SQLite: a migration that rebuilds a parent table (batch mode) must not cascade its
            # DROP into the children, so foreign keys are off for it (only settable outside a
            # transaction, hence on the driver's connection, before BEGIN).
            raw = conn.connection.driver_connection if self.is_sqlite else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")

    def dispose(self) -> None:
        self.engine.dispose()
