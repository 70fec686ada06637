"""Encryption at rest for biometric data (templates, crops) with AES-256-GCM, versioned keys.

The keys come from a keyring file: ``security.key_file`` or the ``VIGIL_KEY_FILE`` environment
variable, default HOME/keys/data.key, created with mode 0600 on first use (never re-created once
data exists). The file holds one base64 key per line, oldest first; the LAST line is the current
key (a file of one line, as written before keyrings, is a keyring of one key). Lines starting
with ``#`` are comments. ``security.data_key`` / ``VIGIL_DATA_KEY`` gives one key instead.

Sealed blobs are ``MAGIC | key_id(8) | nonce(12) | ciphertext+tag``: every blob has always
recorded the id of the key that sealed it, so :meth:`DataCipher.open` picks that key from the
ring and a blob of an unknown key is detected, never silently decoded into garbage. ``aad`` binds
each blob to its row. New blobs are sealed with the current key.

A cipher built from a keyring file (:meth:`DataCipher.from_file`) follows the file: before each
seal, and when it meets a key id it does not hold, it re-reads the file if it changed (one
``stat``). So a running server seals with the new key as soon as `vigil keys rotate`
(:mod:`vigil.accountability.rotation`) has written it, and opens blobs the rotation re-sealed.
The rotation keeps an old key in the ring until no stored blob uses it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.config import Settings
from vigil.errors import ConfigError, IntegrityError, StorageError

MAGIC = b"VGL1"
KEY_BYTES = 32
KEY_ID_BYTES = 8
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES
KEYRING_HEADER = (
    b"# Vigil data keyring: one base64 AES-256 key per line, oldest first; the LAST is current.\n"
    b"# Older keys open data sealed before a `vigil keys rotate`, which drops them once unused.\n"
)


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"vigil-key-id" + key).digest()[:KEY_ID_BYTES]


def blob_key_id(sealed: bytes) -> bytes | None:
    """The id of the key that sealed ``sealed``, or None when it is no Vigil-sealed blob."""
    if len(sealed) < HEADER_BYTES or not sealed.startswith(MAGIC):
        return None
    return sealed[len(MAGIC) : HEADER_BYTES]


@dataclass(frozen=True, slots=True)
class Keyring:
    """Data keys, oldest first; the last one is current (seals new data)."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("security.key_file", "the keyring holds no key", hint="restore it")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    "security.key_file", f"expected a {KEY_BYTES}-byte key, got {len(key)} bytes"
                )

    @property
    def current(self) -> bytes:
        return self.keys[-1]

    @property
    def ids(self) -> tuple[bytes, ...]:
        return tuple(key_id(k) for k in self.keys)

    def with_current(self, key: bytes) -> Keyring:
        """This ring with ``key`` added as the current key."""
        return Keyring((*(k for k in self.keys if k != key), key))

    def keeping(self, used: Iterable[bytes]) -> Keyring:
        """Only the keys whose id is in ``used``, and the current key (always kept)."""
        wanted = set(used) | {key_id(self.current)}
        return Keyring(tuple(k for k in self.keys if key_id(k) in wanted))


@dataclass(frozen=True, slots=True)
class _Ring:
    """What a cipher holds at one moment: its AES objects by key id and the current id."""

    current: bytes
    aes: dict[bytes, AESGCM]
    stamp: tuple[int, int, int] | None  # (inode, mtime_ns, size) of the file it was read from

    @classmethod
    def of(cls, ring: Keyring, stamp: tuple[int, int, int] | None = None) -> _Ring:
        return cls(key_id(ring.current), {key_id(k): AESGCM(k) for k in ring.keys}, stamp)


class DataCipher:
    """Seals and opens biometric blobs. ``aad`` binds a blob to its row (e.g. b"template:12")."""

    def __init__(self, key: bytes | Keyring, *, source: Path | None = None) -> None:
        ring = key if isinstance(key, Keyring) else Keyring((key,))
        self._source = source
        # A file-backed cipher re-reads its file once on first use: it may have changed between
        # being read and this stamp being taken.
        self._ring = _Ring.of(ring)
        self._reload = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> DataCipher:
        """A cipher that follows the keyring file ``path`` (see the module docstring)."""
        return cls(read_keyring(path), source=path)

    @property
    def key_id(self) -> bytes:
        """The current key's id (new blobs are sealed with it)."""
        return self._ring.current

    @property
    def key_ids(self) -> frozenset[bytes]:
        return frozenset(self._ring.aes)

    def seal(self, plain: bytes, aad: bytes = b"") -> bytes:
        ring = self._refresh()
        nonce = os.urandom(12)
        return MAGIC + ring.current + nonce + ring.aes[ring.current].encrypt(nonce, plain, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        kid = blob_key_id(sealed)
        if kid is None:
            raise IntegrityError(
                "stored blob is not a Vigil-encrypted value",
                hint="was the database edited by hand?",
            )
        aes = self._ring.aes.get(kid) or self._refresh().aes.get(kid)
        if aes is None:
            raise IntegrityError(
                f"stored data was encrypted with a different key (id {kid.hex()}) than the "
                "ones configured",
                hint="set security.key_file / VIGIL_KEY_FILE to the deployment's keyring, or "
                f"restore a keyring file that holds key {kid.hex()} from backup; no data was "
                "changed",
            )
        nonce, body = sealed[HEADER_BYTES : HEADER_BYTES + 12], sealed[HEADER_BYTES + 12 :]
        try:
            return aes.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise IntegrityError(
                "encrypted blob failed its integrity check", hint="the row was modified"
            ) from exc

    def _refresh(self) -> _Ring:
        """Re-read the keyring file when it changed since it was read (one stat otherwise)."""
        if self._source is None:
            return self._ring
        stamp = _stamp(self._source)
        if stamp is None or stamp == self._ring.stamp:
            return self._ring
        with self._reload:
            if _stamp(self._source) != self._ring.stamp:
                stamp = _stamp(self._source)
                self._ring = _Ring.of(read_keyring(self._source), stamp)
        return self._ring


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


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


def read_keyring(path: Path) -> Keyring:
    """The keyring in ``path`` (one base64 key per line, the last current); errors name the line."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as exc:
        raise ConfigError("security.key_file", f"cannot read {path}: {exc.strerror}") from exc
    lines = [
        (n, line.strip())
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith(b"#")
    ]
    if not lines:
        return Keyring((decode_key(b"", source=str(path)),))
    single = len(lines) == 1
    return Keyring(
        tuple(
            decode_key(raw, source=str(path) if single else f"{path} line {n}") for n, raw in lines
        )
    )


def write_keyring(path: Path, ring: Keyring) -> None:
    """Replace ``path`` with ``ring`` atomically (a 0600 temp file, fsync, rename, fsync dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = KEYRING_HEADER + b"".join(base64.b64encode(k) + b"\n" for k in ring.keys)
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(
            f"cannot write the data keyring {path}: {exc.strerror}",
            hint="check the folder is writable and the disk not full; the previous keyring "
            "is unchanged",
        ) from exc


def load_or_create_keyring(path: Path, *, create: bool) -> Keyring:
    """Read the keyring file; create one with a new key (0600) only when ``create`` is true."""
    if path.exists():
        return read_keyring(path)
    if not create:
        raise _missing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
    return Keyring((key,))


def load_or_create_key(path: Path, *, create: bool) -> bytes:
    """The current key of the keyring file (see :func:`load_or_create_keyring`)."""
    return load_or_create_keyring(path, create=create).current


def _missing(path: Path) -> ConfigError:
    return ConfigError(
        "security.key_file",
        f"the data key {path} is missing",
        hint="restore it from backup or set VIGIL_KEY_FILE; "
        "without it stored templates cannot be read",
    )
