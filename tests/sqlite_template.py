"""A migrated SQLite database, made once per session and copied into the fresh homes of tests
that build their database at once (the SQLite side of tests/pg_server.py's template database).

Migrating a new SQLite file runs every Alembic revision (0.1-0.2 s of CPU, more on a loaded
machine, for each test); copying a migrated one takes milliseconds, and the code under test
then finds the database at head, as it would in any deployment after its first start. Only the
fixtures that would make and migrate the database straight away seed it (``db``,
``make_context`` and the web tests' environments), only for the default SQLite file
(``HOME/vigil.db``) and only when the home holds none yet. Migrations from an empty or old
database are tested on their own files (tests/db, the CLI's ``vigil init`` tests).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from vigil.config import Settings
from vigil.db.session import Database

DB_NAME = "vigil.db"


class SqliteTemplate:
    """``seed(settings)``: put a copy of the migrated template where ``settings`` keep their
    SQLite database, unless a database URL is set or the file exists. The template is made on
    first use, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / DB_NAME
        self._lock = threading.Lock()
        self._made = False

    def _make(self) -> Path:
        with self._lock:
            if not self._made:
                db = Database(f"sqlite:///{self.path}")
                try:
                    db.migrate()
                finally:
                    db.dispose()  # the last connection checkpoints the WAL into the file
                self._made = True
        return self.path

    def seed(self, settings: Settings) -> bool:
        """True if a copy was put in place."""
        target = settings.home / DB_NAME
        if settings.database_url is not None or target.exists():
            return False
        if settings.db_url != f"sqlite:///{target.resolve()}":
            return False  # not the default file after all
        source = self._make()
        settings.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return True
