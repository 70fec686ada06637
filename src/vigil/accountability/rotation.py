"""Data key rotation: re-encrypt every template and crop with a new AES-256 key.

The new key is written next to the old one as ``<key>.new`` and the old key is copied to
``<key>.old`` first. All blobs are re-sealed in ONE write transaction (audited as
``keys.rotate``); only after it commits does the new key replace the old file, and the backup
goes. If anything fails before the commit, the database and the key file are unchanged. If the
process dies between the commit and the replace, ``<key>.new`` holds the key for the data.

Stop ``vigil serve`` before rotating: a running server keeps the old key in memory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher, load_or_create_key
from vigil.db.session import Database
from vigil.errors import Conflict, StorageError
from vigil.repositories.sealed import SealedDataRepo


@dataclass(frozen=True, slots=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    templates: int
    photos: int
    crops: int


def write_key_file(path: Path, key: bytes) -> None:
    """Create a key file with mode 0600 (fails if it exists) and flush it to disk."""
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def _reseal(s: Session, old: DataCipher, new: DataCipher) -> tuple[int, int, int]:
    templates = photos = crops = 0
    repo = SealedDataRepo(s)
    for tpl in repo.templates():
        aad = f"template:{tpl.id}".encode()
        plain = old.open(tpl.vector, aad) if tpl.encrypted else tpl.vector
        tpl.vector = new.seal(plain, aad)
        if tpl.photo is not None:
            photo = old.open(tpl.photo, aad + b":photo") if tpl.encrypted else tpl.photo
            tpl.photo = new.seal(photo, aad + b":photo")
            photos += 1
        tpl.encrypted = True
        templates += 1
    for alert in repo.alerts_with_crops():
        aad = f"alert:{alert.id}".encode()
        stored = alert.crop or b""
        crop = old.open(stored, aad) if alert.crop_encrypted else stored
        alert.crop = new.seal(crop, aad)
        alert.crop_encrypted = True
        crops += 1
    s.flush()
    return templates, photos, crops


def rotate_key(db: Database, key_path: Path, *, actor: str) -> RotationResult:
    """Re-encrypt everything under a new key; see the module docstring for the safety steps."""
    old = DataCipher(load_or_create_key(key_path, create=False))
    new_key = AESGCM.generate_key(bit_length=256)
    new = DataCipher(new_key)
    new_path = key_path.with_name(key_path.name + ".new")
    backup = key_path.with_name(key_path.name + ".old")
    for leftover in (new_path, backup):
        if leftover.exists():
            raise Conflict(
                f"{leftover} exists: an earlier key rotation did not finish",
                hint="check which key opens the data (try each with VIGIL_KEY_FILE), keep that one "
                "as the key file and delete the other files",
            )
    write_key_file(new_path, new_key)
    shutil.copy2(key_path, backup)
    os.chmod(backup, 0o600)
    try:
        with db.write() as s:
            counts = _reseal(s, old, new)
            audit.record(
                s,
                actor=actor,
                action="keys.rotate",
                target="data-key",
                details={
                    "old_key_id": old.key_id.hex(),
                    "new_key_id": new.key_id.hex(),
                    "templates": counts[0],
                    "photos": counts[1],
                    "crops": counts[2],
                },
            )
    except BaseException:
        new_path.unlink(missing_ok=True)
        backup.unlink(missing_ok=True)
        raise
    try:
        os.replace(new_path, key_path)
    except OSError as exc:
        raise StorageError(
            f"the data was re-encrypted but {key_path} could not be replaced: {exc.strerror}",
            hint=f"move {new_path} to {key_path} by hand; it holds the key for the data now",
        ) from exc
    backup.unlink(missing_ok=True)
    return RotationResult(old.key_id.hex(), new.key_id.hex(), *counts)
