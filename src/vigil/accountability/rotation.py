"""Data key rotation: add a new current key, re-seal every template and crop with it, retire
the old keys that nothing uses any more.

The key file is a keyring (:mod:`vigil.accountability.crypto`): old keys stay in it until no
stored blob was sealed with them. The steps:

1. Every blob is opened (each with the key whose id it records) and re-sealed with a new key in
   ONE write transaction, audited as ``keys.rotate``. Before that transaction commits, and while
   it still holds the database's write lock, the keyring file is replaced by one with the new key
   added as current. If anything fails before, the database and the key file are unchanged; if
   the process dies between the file write and the commit, the keyring holds both keys and every
   blob still opens.
2. In a second write transaction the key ids still used by stored blobs are read, and the keyring
   is rewritten without the old keys that no blob uses (audited as ``keys.retire``).

A running server holds the deployment lock (:mod:`vigil.accountability.deployment_lock`), and
by default the rotation refuses while it does. With ``online=True`` it runs anyway: the server's
cipher follows the keyring file (it seals with the new key from the moment step 1 wrote it, and
re-reads the file when it meets a key id it does not hold); its writes are serialised with both
steps by the database's write lock, so any blob it sealed with an old key before step 1 is
committed before step 1 reads, and step 2 keeps any old key still in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher, read_keyring, write_keyring
from vigil.accountability.deployment_lock import DeploymentLock, HeldLock
from vigil.db.session import Database
from vigil.repositories.sealed import SealedDataRepo


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


def _reseal(s: Session, cipher: DataCipher) -> ResealCounts:
    """Open every blob with the key it records; seal it with ``cipher``'s current key."""
    templates = photos = crops = 0
    repo = SealedDataRepo(s)
    for tpl in repo.templates():
        aad = f"template:{tpl.id}".encode()
        plain = cipher.open(tpl.vector, aad) if tpl.encrypted else tpl.vector
        tpl.vector = cipher.seal(plain, aad)
        if tpl.photo is not None:
            photo = cipher.open(tpl.photo, aad + b":photo") if tpl.encrypted else tpl.photo
            tpl.photo = cipher.seal(photo, aad + b":photo")
            photos += 1
        tpl.encrypted = True
        templates += 1
    for alert in repo.alerts_with_crops():
        aad = f"alert:{alert.id}".encode()
        stored = alert.crop or b""
        crop = cipher.open(stored, aad) if alert.crop_encrypted else stored
        alert.crop = cipher.seal(crop, aad)
        alert.crop_encrypted = True
        crops += 1
    s.flush()
    return ResealCounts(templates, photos, crops)


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

    Refuses (:class:`~vigil.errors.Conflict`) while a server holds ``lock`` unless ``online``."""
    held: HeldLock | None = None if online else lock.hold_for_rotation()
    try:
        ring = read_keyring(key_path)
        new_ring = ring.with_current(AESGCM.generate_key(bit_length=256))
        cipher = DataCipher(new_ring)
        with db.write() as s:
            counts = _reseal(s, cipher)
            write_keyring(key_path, new_ring)
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
        if held is not None:
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
