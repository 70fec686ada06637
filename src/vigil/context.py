"""The application context: settings, database, cipher, built explicitly (never at import).

Whether a folder holds a deployment is decided here, in :func:`find_deployment`, and only
``build_context(settings, create=True)`` (``vigil init``, ``vigil demo``, test fixtures) may make
one; every other caller opens an existing deployment or gets :class:`NotFound` with nothing
created.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from vigil.accountability.crypto import (
    DataCipher,
    default_key_path,
    env_key,
    load_or_create_keyring,
)
from vigil.accountability.pseudonyms import seal_pending_keys
from vigil.config import Settings
from vigil.db.session import Database
from vigil.errors import NotFound, StorageError
from vigil.repositories.deployment import DeploymentRepo

if TYPE_CHECKING:
    from vigil.models.base import ModelPack


def new_instance() -> str:
    """A name for one server process, unique across hosts and restarts."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cipher: DataCipher
    # This process in the database (the owner of its camera sessions): host, pid, random part.
    instance: str = field(default_factory=new_instance)
    _pack: ModelPack | None = field(default=None, repr=False)
    _pack_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pack(self) -> ModelPack:
        """The process's one model pack (shared by its cameras and enrollment), loaded on first
        use; the lock makes two threads asking at once load it once."""
        with self._pack_lock:
            if self._pack is None:
                from vigil.models.registry import create_pack

                self._pack = create_pack(self.settings)
            return self._pack

    @cached_property
    def key_path(self) -> str:
        return str(self.settings.security.key_file or default_key_path(self.settings.home))

    def close(self) -> None:
        """Stop the pack's worker processes (if it has any) and close the database."""
        with self._pack_lock:
            pack, self._pack = self._pack, None
        if pack is not None:
            pack.close()
        self.db.dispose()


@dataclass(frozen=True, slots=True)
class DeploymentCheck:
    """What a data folder holds. A deployment exists when its database holds Vigil's schema."""

    home: Path
    database: bool  # the database exists with Vigil's schema
    key: bool  # the data key file exists, or the key is given in the environment
    config: bool  # HOME/vigil.yaml exists

    @property
    def exists(self) -> bool:
        return self.database

    @property
    def anything(self) -> bool:
        """Something a deployment leaves behind is there (possibly a half-made one)."""
        return self.database or self.key or self.config


def no_deployment(home: Path) -> NotFound:
    return NotFound(f"no deployment in {home}; run `vigil init` (or set VIGIL_HOME)")


def find_deployment(settings: Settings) -> DeploymentCheck:
    """Look, creating nothing (no folder, no database file, no key)."""
    key_file = settings.security.key_file or default_key_path(settings.home)
    return DeploymentCheck(
        home=settings.home,
        database=_has_schema(settings.db_url),
        key=settings.security.data_key is not None or key_file.exists(),
        config=settings.config_path.exists(),
    )


def _has_schema(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            return False  # connecting would create the file
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot look for a deployment in the database {parsed.render_as_string()}: "
            f"{getattr(exc, 'orig', None) or exc}",
            hint="check database_url / VIGIL_DATABASE_URL and that the database is reachable",
        ) from exc
    finally:
        db.dispose()


def build_context(settings: Settings, *, create: bool = True) -> AppContext:
    """Open (and migrate) the database and load the data key.

    ``create=True`` makes the data folder and database where they don't exist yet (only
    ``vigil init``, ``vigil demo`` and test fixtures); ``create=False`` raises :class:`NotFound`
    ("no deployment in HOME; run `vigil init`") and creates nothing when there is none. Either
    way the data key is made when missing only while no template is stored: templates sealed
    with a lost key would be unreadable, so that is an error.
    """
    if not create and not find_deployment(settings).exists:
        raise no_deployment(settings.home)
    if create:
        settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        db.migrate()
        key_file = settings.security.key_file or default_key_path(settings.home)
        # A deployment without stored templates may get its data key now (nothing is sealed
        # with the lost one); with templates a missing key is an error, never replaced.
        # A key file is a keyring the cipher follows (a rotation's new key is picked up).
        key = env_key(settings)
        if key is None:
            load_or_create_keyring(key_file, create=not _has_templates(db))
        cipher = DataCipher(key) if key is not None else DataCipher.from_file(key_file)
        seal_pending_keys(db, cipher)  # subject keys a migration stored before a key was at hand
    except BaseException:
        db.dispose()
        raise
    return AppContext(settings=settings, db=db, cipher=cipher)


def _has_templates(db: Database) -> bool:
    return stored_data(db).templates > 0


@dataclass(frozen=True, slots=True)
class StoredData:
    """How much real data a deployment's database holds (what `vigil init` must never lose)."""

    users: int
    templates: int
    alerts: int

    @property
    def empty(self) -> bool:
        return not (self.users or self.templates or self.alerts)

    def describe(self) -> str:
        return f"{self.users} users, {self.templates} templates, {self.alerts} alerts"


def stored_data(db: Database) -> StoredData:
    with db.read() as s:
        users, templates, alerts = DeploymentRepo(s).counts()
    return StoredData(users=users, templates=templates, alerts=alerts)
