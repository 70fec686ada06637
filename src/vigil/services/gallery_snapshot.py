"""Encrypted snapshots of a built gallery index, so that a restart loads instead of rebuilding.

A 1,000,000-template HNSW index takes minutes of CPU to build on two cores; loading its saved
form takes seconds. The command center saves its gallery (entries and built index, per
authorization partition) to ``HOME/gallery/<pack>.snapshot`` and loads it at start, then brings
it up to date by id with :meth:`~vigil.services.gallery.ActiveGallery.sync` (ids only: only
templates missing from the snapshot are opened).

The file holds biometric templates, so it is sealed like them (AES-256-GCM through
:class:`~vigil.accountability.crypto.DataCipher`), with a random key of its own. That key is kept
in the database sealed with the deployment's data key
(:class:`~vigil.repositories.gallery_snapshots.SnapshotKeyRepo`): every purge deletes it in the
purge's own transaction, so a purged template cannot be read back from a snapshot, and the
running server then rewrites the file under a new key (:meth:`GallerySnapshotStore.save`). A key
rotation re-seals the key. A snapshot that is missing, older than
``matching.gallery_snapshot_max_age_hours``, built with another index policy, or that fails to
open is not used: one log line, and the gallery is built from the database.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from vigil.accountability.crypto import KEY_BYTES, DataCipher
from vigil.db.session import Database
from vigil.errors import IntegrityError
from vigil.faces.gallery import UNREADABLE, FilteredGallery
from vigil.faces.index import IndexPolicy
from vigil.repositories.gallery import GalleryRepo, WatchlistAuthority
from vigil.repositories.gallery_snapshots import SnapshotKeyRepo, snapshot_key_aad
from vigil.timeutil import utcnow

log = logging.getLogger(__name__)

# Audit actions after which a snapshot may hold templates that are gone (see services.gallery).
REMOVAL_ACTIONS = ("subject.delete", "template.", "watchlist.", "retention.", "keys.", "purge")


@dataclass(frozen=True, slots=True)
class SnapshotCursors:
    """What a snapshot covers: templates up to this id, audit events up to this id, and the
    watchlists' authority (by watchlist id) it was built under."""

    template_id: int
    audit_id: int
    authority: dict[int, WatchlistAuthority]


@dataclass(frozen=True, slots=True)
class LoadedSnapshot:
    gallery: FilteredGallery
    cursors: SnapshotCursors
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class _Header:
    """The sealed file's first part (pickled with the gallery's bytes)."""

    pack: str
    saved_at: datetime
    cursors: SnapshotCursors
    policy: IndexPolicy
    size: int


def _file_aad(pack: str) -> bytes:
    return f"gallery-snapshot:{pack}".encode()


class GallerySnapshotStore:
    """Saves and loads the sealed snapshots of one deployment (``HOME/gallery/``)."""

    def __init__(
        self, home: Path, db: Database, cipher: DataCipher, max_age: timedelta = timedelta(days=7)
    ) -> None:
        self.folder = Path(home) / "gallery"
        self.db = db
        self.cipher = cipher
        self.max_age = max_age

    def path(self, pack: str) -> Path:
        return self.folder / f"{pack}.snapshot"

    def save(self, pack: str, gallery: FilteredGallery, cursors: SnapshotCursors) -> bool:
        """Seal and write ``gallery`` under a new key; False (nothing kept) when templates were
        removed after ``cursors`` (the next sync applies that, then saves again)."""
        key = os.urandom(KEY_BYTES)
        header = _Header(pack, utcnow(), cursors, gallery.policy, len(gallery))
        plain = gallery.dump(header)
        sealed = DataCipher(key).seal(plain, _file_aad(pack))
        del plain
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(pack).with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(sealed)
        with self.db.write() as s:
            repo = GalleryRepo(s)
            if repo.max_audit_id() > cursors.audit_id and any(
                a.startswith(REMOVAL_ACTIONS) for a in repo.audit_actions_after(cursors.audit_id)
            ):
                tmp.unlink(missing_ok=True)
                return False
            SnapshotKeyRepo(s).put(pack, self.cipher.seal(key, snapshot_key_aad(pack)))
        os.replace(tmp, self.path(pack))
        return True

    def load(self, pack: str, policy: IndexPolicy) -> LoadedSnapshot | None:
        """The saved gallery of ``pack``, or None (with one log line saying why)."""
        path = self.path(pack)
        if not path.is_file():
            log.info("gallery %s: no snapshot at %s; building from the database", pack, path)
            return None
        with self.db.read() as s:
            sealed_key = SnapshotKeyRepo(s).get(pack)
        if sealed_key is None:
            self._unusable(pack, "its key is gone (a purge since it was saved)")
            return None
        try:
            key = self.cipher.open(sealed_key, snapshot_key_aad(pack))
            header, gallery = FilteredGallery.load(
                DataCipher(key).open(path.read_bytes(), _file_aad(pack))
            )
        except (IntegrityError, OSError, *UNREADABLE) as exc:
            self._unusable(pack, f"it cannot be opened ({type(exc).__name__}: {exc})")
            return None
        if not isinstance(header, _Header) or header.pack != pack or header.policy != policy:
            self._unusable(pack, "it was built with another index policy", delete=False)
            return None
        if utcnow() - header.saved_at > self.max_age:
            self._unusable(pack, f"it is older than {self.max_age}", delete=False)
            return None
        return LoadedSnapshot(gallery, header.cursors, header.saved_at)

    def _unusable(self, pack: str, why: str, *, delete: bool = True) -> None:
        log.warning(
            "gallery %s: snapshot %s not used: %s; building from the database",
            pack,
            self.path(pack),
            why,
        )
        if delete:
            self.discard(pack)

    def discard(self, pack: str) -> None:
        """Delete ``pack``'s snapshot file (its key row goes with purges)."""
        self.path(pack).unlink(missing_ok=True)
        self.path(pack).with_suffix(".tmp").unlink(missing_ok=True)
