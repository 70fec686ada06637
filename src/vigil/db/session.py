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

PostgreSQL gives the same guarantee across processes and machines: every :meth:`Database.write`
transaction first takes the transaction-level advisory lock :data:`WRITER_LOCK`
(``pg_advisory_xact_lock``, released at COMMIT or ROLLBACK, also when the client dies). Writers
queue on it in order, so a read-then-write (the audit chain's head, then its next record) never
interleaves with another process's; reads take no lock. :meth:`Database.vacuum` runs PostgreSQL's
``VACUUM`` after a purge (docs/postgresql.md says what it does and cannot do).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import InputError, StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
WRITE_OPTION = "vigil_write"  # execution option set on the engine that Database.write uses
# PostgreSQL advisory lock keys (one 64-bit key space per database; "vigil" in ASCII as a prefix).
WRITER_LOCK = 0x76696769_6C000001  # every Database.write transaction (the audit chain's order)
WRITER_WAIT = "30s"  # PostgreSQL lock_timeout of a write transaction (SQLite: busy_timeout)


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


def take_writer_lock(session: Session) -> None:
    """PostgreSQL: wait for :data:`WRITER_LOCK` until this transaction ends (a no-op when held
    already, and on SQLite, whose BEGIN IMMEDIATE took the database's write lock)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Like SQLite's busy_timeout: a writer stuck behind another fails instead of hanging.
        session.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": WRITER_WAIT})
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for a lock name."""
    return int.from_bytes(hashlib.sha256(f"vigil:{name}".encode()).digest()[:8], "big", signed=True)


class SessionLock:
    """A named lock held until :meth:`release` or the holder's death, on every database.

    PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection (the server drops it when the
    connection ends: a crashed or killed holder frees it). SQLite: ``flock`` on a file beside
    the database (the kernel drops it when the process ends).
    """

    def __init__(self, release: Callable[[], None], alive: Callable[[], bool]) -> None:
        self._release = release
        self._alive = alive
        self.held = True

    def alive(self) -> bool:
        """Still held (PostgreSQL: the connection holding it still answers)."""
        if self.held and not self._alive():
            self.release()
        return self.held

    def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                self._release()


def _pg_session_lock(engine: Engine, name: str, shared: bool) -> SessionLock | None:
    fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.execute(text(f"SELECT {fn}(:key)"), {"key": lock_key(name)}).scalar_one()
    except BaseException:
        conn.close()
        raise
    if not got:
        conn.close()
        return None

    def alive() -> bool:
        try:
            conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def release() -> None:
        # Unlock now (a closed socket is noticed by the server a moment later), then close.
        try:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
        finally:
            conn.invalidate()
            conn.close()

    return SessionLock(release, alive)


def _file_session_lock(path: Path, shared: bool) -> SessionLock | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return SessionLock(lambda: os.close(fd), lambda: True)


def _bad_value(exc: DataError) -> InputError:
    """A value the database refuses (PostgreSQL: a NUL byte in text, a number out of range)."""
    return InputError(
        f"the database refused a value: {str(exc.orig).splitlines()[0]}",
        hint="remove NUL (\\x00) characters and out-of-range numbers from the input",
    )


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgresql = url.startswith("postgresql")
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
        except DataError as exc:
            raise _bad_value(exc) from exc
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
                take_writer_lock(session)
                yield session
                session.commit()
            except DataError as exc:
                session.rollback()
                raise _bad_value(exc) from exc
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

    def try_lock(self, name: str, *, shared: bool = False) -> SessionLock | None:
        """Take the named lock now (exclusive, or shared with other shared holders), or None
        when another process holds it in a conflicting mode. Never waits."""
        if self.is_postgresql:
            return _pg_session_lock(self.engine, name, shared)
        path = make_url(self.url).database
        if not path or path == ":memory:":  # one process owns an in-memory database
            return SessionLock(lambda: None, lambda: True)
        return _file_session_lock(Path(f"{path}.{name}.lock"), shared)

    def vacuum(self, *tables: str, full: bool = True) -> None:
        """PostgreSQL: ``VACUUM FULL`` (or plain ``VACUUM``) these tables, outside a transaction.

        A purge runs it on the tables that held biometric bytes. Plain VACUUM only marks dead
        tuples' space reusable: their bytes stay in the pages until new rows overwrite them.
        VACUUM FULL rewrites the table (and its TOAST table) into new files without them, under
        an ACCESS EXCLUSIVE lock for the rewrite. See docs/postgresql.md for what neither
        reaches (freed file-system blocks, the WAL, backups). Does nothing on SQLite, whose
        ``secure_delete`` zeroes deleted cells at once.
        """
        if not self.is_postgresql or not tables:
            return
        quote = self.engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(t) for t in tables)
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM {'(FULL) ' if full else ''}{names}")
        except SQLAlchemyError as exc:
            raise StorageError(f"VACUUM after a purge failed: {exc}", hint="try again") from exc

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
                    if self.is_postgresql:  # two servers starting at once: one migrates, one waits
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK}
                        )
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")

    def dispose(self) -> None:
        self.engine.dispose()
