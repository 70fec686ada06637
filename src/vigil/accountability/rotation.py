"""Data key rotation: add a new current key, re-seal every template and crop with it, retire
the old keys that nothing uses any more.

The key file is a keyring (:mod:`vigil.accountability.crypto`): old keys stay in it until no
stored blob was sealed with them. The steps:

1. Every blob is opened (each with the key whose id it records) and re-sealed with a new key,
   in id order, :data:`BATCH` rows per write transaction (so a running server's writes wait for
   one batch, never for the whole rotation). Before the FIRST transaction commits, while it
   holds the database's write lock, the keyring file is replaced by one with the new key added
   as current; a blob already sealed with the new key is skipped. If the first batch fails
   (e.g. a wrong key file), nothing changed. If a later one fails or the process dies, the
   keyring holds both keys, every blob still opens, and running the rotation again finishes it.
   The rotation is audited as ``keys.rotate`` once every batch is done.
2. In a final write transaction the key ids still used by stored blobs are read, and the keyring
   is rewritten without the old keys that no blob uses (audited as ``keys.retire``).

A running server holds the deployment lock (:mod:`vigil.accountability.deployment_lock`), and
by default the rotation refuses while it does. With ``online=True`` it runs anyway: the server's
cipher follows the keyring file (it seals with the new key from the moment step 1 wrote it, and
re-reads the file when it meets a key id it does not hold); its writes are serialised with the
batches by the database's write lock, so a blob it sealed with an old key was committed before
the first batch began and is re-sealed by the batch that reaches its id, and step 2 keeps any
old key still in use.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher, blob_key_id, read_keyring, write_keyring
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.pseudonyms import key_aad
from vigil.db.session import Database
from vigil.errors import IntegrityError
from vigil.repositories.gallery_snapshots import SnapshotKeyRepo, snapshot_key_aad
from vigil.repositories.sealed import SealedDataRepo, sighting_aad


@dataclass(frozen=True, slots=True)
class ResealCounts:
    templates: int
    photos: int
    crops: int


@dataclass(frozen=True, slots=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    templates: int
    photos: int
    crops: int
    retired_key_ids: tuple[str, ...]  # removed from the keyring (no blob uses them)
    kept_key_ids: tuple[str, ...]  # every key id left in the keyring, the new one last


BATCH = 500  # rows re-sealed per write transaction (how long a running server's writes wait)
# Online, a pause between batches lets the server's waiting writers in (neither SQLite's busy
# handler nor a lock is fair: without it the next batch would usually win again).
ONLINE_PAUSE_S = 0.1


class _Resealer:
    """Re-seals templates, then alert crops, in id order, ``batch`` rows per write transaction.

    The first transaction also writes the new keyring just before it commits (while it holds the
    database's write lock), so a server sealing anything afterwards uses the new key. A blob
    already sealed with the new key is left as it is."""

    def __init__(
        self, db: Database, cipher: DataCipher, write_ring: Callable[[], None], *, online: bool
    ) -> None:
        self.db, self.cipher, self.batch = db, cipher, BATCH
        self.pause = ONLINE_PAUSE_S if online else 0.0
        self._write_ring: Callable[[], None] | None = write_ring
        self.templates = self.photos = self.crops = 0

    def run(self) -> ResealCounts:
        self._each_batch(self._templates)  # its first transaction always runs: writes the ring
        self._each_batch(self._crops)
        self._each_batch(self._sighting_crops)
        self._each_batch(self._subject_keys)
        self._each_batch(self._snapshot_keys)
        return ResealCounts(self.templates, self.photos, self.crops)

    def _each_batch(self, step: Callable[[Session, int], tuple[int, int]]) -> None:
        after = 0
        while True:
            with self.db.write() as s:
                after, rows = step(s, after)
                if self._write_ring is not None:
                    self._write_ring()
                    self._write_ring = None
            if rows < self.batch:
                return
            time.sleep(self.pause)

    def _reseal(self, blob: bytes, aad: bytes, encrypted: bool) -> bytes | None:
        """The blob sealed with the current key, or None when it already is."""
        if encrypted and blob_key_id(blob) == self.cipher.key_id:
            return None
        return self.cipher.seal(self.cipher.open(blob, aad) if encrypted else blob, aad)

    def _templates(self, s: Session, after: int) -> tuple[int, int]:
        rows = SealedDataRepo(s).templates_after(after, self.batch)
        for tpl in rows:
            aad = f"template:{tpl.id}".encode()
            vector = self._reseal(tpl.vector, aad, tpl.encrypted)
            photo = (
                None
                if tpl.photo is None
                else self._reseal(tpl.photo, aad + b":photo", tpl.encrypted)
            )
            tpl.vector = vector or tpl.vector
            tpl.photo = photo or tpl.photo
            tpl.encrypted = True
            self.templates += vector is not None
            self.photos += photo is not None
        return (rows[-1].id if rows else after), len(rows)

    def _crops(self, s: Session, after: int) -> tuple[int, int]:
        rows = SealedDataRepo(s).alerts_with_crops_after(after, self.batch)
        for alert in rows:
            crop = self._reseal(
                alert.crop or b"", f"alert:{alert.id}".encode(), alert.crop_encrypted
            )
            alert.crop = crop or alert.crop
            alert.crop_encrypted = True
            self.crops += crop is not None
        return (rows[-1].id if rows else after), len(rows)

    def _sighting_crops(self, s: Session, after: int) -> tuple[int, int]:
        rows = SealedDataRepo(s).sightings_with_crops_after(after, self.batch)
        for row in rows:
            aad = sighting_aad(row.alert_id, row.id)
            crop = self._reseal(row.crop or b"", aad, row.crop_encrypted)
            row.crop = crop or row.crop
            row.crop_encrypted = True
            self.crops += crop is not None
        return (rows[-1].id if rows else after), len(rows)

    def _subject_keys(self, s: Session, after: int) -> tuple[int, int]:
        """The keys of subjects' pseudonymous audit references (not counted: no biometric)."""
        rows = SealedDataRepo(s).subject_keys_after(after, self.batch)
        for row in rows:
            aad = key_aad(row.subject_id)
            row.key = self._reseal(row.key, aad, row.encrypted) or row.key
            row.encrypted = True
        return (rows[-1].subject_id if rows else after), len(rows)

    def _snapshot_keys(self, s: Session, after: int) -> tuple[int, int]:
        """The keys of the gallery snapshots (one per pack, so one small batch)."""
        repo = SnapshotKeyRepo(s)
        for pack, sealed in repo.rows():
            try:
                resealed = self._reseal(sealed, snapshot_key_aad(pack), True)
            except IntegrityError:  # unreadable already: forget it (the gallery rebuilds)
                repo.delete(pack)
                continue
            if resealed is not None:
                repo.put(pack, resealed)
        return after, 0


def retire_unused_keys(db: Database, key_path: Path, *, actor: str) -> tuple[str, ...]:
    """Drop from the keyring every old key that no stored blob uses; the ids retired.

    Runs under the database's write lock, so no blob can be sealed meanwhile."""
    with db.write() as s:
        ring = read_keyring(key_path)
        kept = ring.keeping(SealedDataRepo(s).key_ids_in_use())
        retired = tuple(kid.hex() for kid in ring.ids if kid not in kept.ids)
        if retired:
            write_keyring(key_path, kept)
            audit.record(
                s,
                actor=actor,
                action="keys.retire",
                target="data-key",
                details={"retired_key_ids": list(retired), "kept": [k.hex() for k in kept.ids]},
            )
    return retired


def rotate_key(
    db: Database, key_path: Path, *, actor: str, lock: DeploymentLock, online: bool = False
) -> RotationResult:
    """Re-encrypt everything under a new key; see the module docstring for the safety steps.

    Refuses (:class:`~vigil.errors.Conflict`) while another rotation runs, and while a server
    holds ``lock`` unless ``online``."""
    held = lock.hold_for_rotation(online=online)
    try:
        ring = read_keyring(key_path)
        new_ring = ring.with_current(AESGCM.generate_key(bit_length=256))
        cipher = DataCipher(new_ring)
        write_ring = functools.partial(write_keyring, key_path, new_ring)
        counts = _Resealer(db, cipher, write_ring, online=online).run()
        with db.write() as s:
            audit.record(
                s,
                actor=actor,
                action="keys.rotate",
                target="data-key",
                details={
                    "old_key_id": ring.ids[-1].hex(),
                    "new_key_id": cipher.key_id.hex(),
                    "templates": counts.templates,
                    "photos": counts.photos,
                    "crops": counts.crops,
                    "online": online,
                },
            )
        retired = retire_unused_keys(db, key_path, actor=actor)
    finally:
        held.release()
    return RotationResult(
        old_key_id=ring.ids[-1].hex(),
        new_key_id=cipher.key_id.hex(),
        templates=counts.templates,
        photos=counts.photos,
        crops=counts.crops,
        retired_key_ids=retired,
        kept_key_ids=tuple(k.hex() for k in read_keyring(key_path).ids),
    )


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One key of the keyring (or one a blob records but the ring lacks) and its blob count."""

    key_id: str
    current: bool
    in_keyring: bool
    blobs: int


def key_usage(db: Database, key_path: Path) -> list[KeyUse]:
    """Every keyring key, oldest first, then every key id stored blobs use but the ring lacks."""
    ring = read_keyring(key_path)
    with db.read() as s:
        counts = SealedDataRepo(s).key_id_counts()
    rows = [KeyUse(kid.hex(), kid == ring.ids[-1], True, counts.get(kid, 0)) for kid in ring.ids]
    rows += [KeyUse(k.hex(), False, False, n) for k, n in counts.items() if k not in ring.ids]
    return rows
