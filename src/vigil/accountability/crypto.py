"""Encryption at rest for biometric data (templates, crops) with AES-256-GCM.

The key comes from a key file: ``security.key_file`` or the ``VIGIL_KEY_FILE`` environment
variable, default HOME/keys/data.key, created with mode 0600 on first use (never re-created once
data exists). Sealed blobs are ``MAGIC | key_id(8) | nonce(12) | ciphertext+tag``, so a wrong key
is detected, never silently decoded into garbage; ``aad`` binds each blob to its row. `vigil keys
rotate` (:mod:`vigil.accountability.rotation`) re-encrypts everything under a new key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.config import Settings
from vigil.errors import ConfigError, IntegrityError

MAGIC = b"VGL1"
KEY_BYTES = 32


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"vigil-key-id" + key).digest()[:8]


class DataCipher:
    """Seals and opens biometric blobs. ``aad`` binds a blob to its row (e.g. b"template:12")."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(
                "security.key_file", f"expected a {KEY_BYTES}-byte key, got {len(key)} bytes"
            )
        self._aes = AESGCM(key)
        self.key_id = key_id(key)

    def seal(self, plain: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return MAGIC + self.key_id + nonce + self._aes.encrypt(nonce, plain, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        if not sealed.startswith(MAGIC):
            raise IntegrityError(
                "stored blob is not a Vigil-encrypted value",
                hint="was the database edited by hand?",
            )
        kid, nonce, body = sealed[4:12], sealed[12:24], sealed[24:]
        if kid != self.key_id:
            raise IntegrityError(
                "stored data was encrypted with a different key than the one configured",
                hint="set security.key_file / VIGIL_KEY_FILE to the deployment's key (after an "
                "interrupted `vigil keys rotate`, HOME/keys/data.key.new); no data was changed",
            )
        try:
            return self._aes.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise IntegrityError(
                "encrypted blob failed its integrity check", hint="the row was modified"
            ) from exc


def default_key_path(home: Path) -> Path:
    return home / "keys" / "data.key"


def decode_key(raw: bytes, *, source: str, key: str = "security.key_file") -> bytes:
    """A base64 AES-256 key; errors name the setting and where the value came from."""
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(key, f"{source} is not a base64 key", hint="restore the key") from exc
    if len(decoded) != KEY_BYTES:
        raise ConfigError(key, f"{source} holds {len(decoded)} bytes, expected {KEY_BYTES}")
    return decoded


def env_key(settings: Settings) -> bytes | None:
    """The key given directly (security.data_key / VIGIL_DATA_KEY), if any."""
    secret = settings.security.data_key
    if secret is None:
        return None
    return decode_key(
        secret.get_secret_value().encode(), source="VIGIL_DATA_KEY", key="security.data_key"
    )


def load_or_create_key(path: Path, *, create: bool) -> bytes:
    """Read a base64 key file; create one (0600) only when ``create`` is true."""
    if path.exists():
        return decode_key(path.read_bytes(), source=str(path))
    if not create:
        raise ConfigError(
            "security.key_file",
            f"the data key {path} is missing",
            hint="restore it from backup or set VIGIL_KEY_FILE; "
            "without it stored templates cannot be read",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
    return key
