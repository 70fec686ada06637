"""The database handle: one engine, many readers, exactly one writer at a time.

SQLite allows one writer; instead of letting threads race for the file lock, every write goes
through :meth:`Database.write`, which holds a process-wide lock for the transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # Deleted biometric rows are overwritten with zeros, not left in free pages.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


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
            session = self._factory()
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

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._write_lock, self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()
