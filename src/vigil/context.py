"""The application context: settings, database, cipher, built explicitly (never at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from vigil.accountability.crypto import (
    DataCipher,
    default_key_path,
    env_key,
    load_or_create_key,
)
from vigil.config import Settings
from vigil.db.session import Database

if TYPE_CHECKING:
    from vigil.models.base import ModelPack


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cipher: DataCipher
    _pack: ModelPack | None = field(default=None, repr=False)

    @property
    def pack(self) -> ModelPack:
        """The configured model pack, loaded on first use."""
        if self._pack is None:
            from vigil.models.registry import create_pack

            self._pack = create_pack(self.settings)
        return self._pack

    @cached_property
    def key_path(self) -> str:
        return str(self.settings.security.key_file or default_key_path(self.settings.home))

    def close(self) -> None:
        self.db.dispose()


def build_context(settings: Settings, *, create: bool = True) -> AppContext:
    """Open (and migrate) the database and load the data key.

    ``create`` makes the data folder and key if they don't exist yet (first use); a later missing
    key is an error, because templates sealed with it would be unreadable.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    db.migrate()
    key_file = settings.security.key_file or default_key_path(settings.home)
    with db.read() as s:
        from sqlalchemy import func, select

        from vigil.db.models import Template

        has_data = (s.scalar(select(func.count(Template.id))) or 0) > 0
    key = env_key(settings) or load_or_create_key(key_file, create=create and not has_data)
    return AppContext(settings=settings, db=db, cipher=DataCipher(key))
