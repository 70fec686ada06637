"""The deployment's Ed25519 signing key: signs audit chain heads, retention anchors and exports.

The key lives in HOME/keys/signing.key (or ``security.signing_key_file``) as the base64 raw
32-byte private seed, created with mode 0600 on first use. Its public key is what an auditor
needs to check audit signatures and export bundles.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vigil.config import Settings
from vigil.errors import ConfigError

SEED_BYTES = 32


def default_signing_key_path(home: Path) -> Path:
    return home / "keys" / "signing.key"


def signing_key_path(settings: Settings) -> Path:
    return settings.security.signing_key_file or default_signing_key_path(settings.home)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """Short hex id of a public key (first 16 hex of its SHA-256)."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def load_public_key(data: str | bytes) -> Ed25519PublicKey:
    """A public key from base64 raw bytes (as printed by `vigil audit verify` or in manifests)."""
    try:
        raw = base64.b64decode(data, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ConfigError(
            "public_key", "not a base64 Ed25519 public key", hint="copy it again"
        ) from exc


class Signer:
    """Signs and verifies with one Ed25519 key pair."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.fingerprint = fingerprint(self.public)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(public_bytes(self.public)).decode()

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode()

    def verify(self, message: bytes, signature: str) -> bool:
        return verify_with(self.public, message, signature)


class PublicVerifier:
    """Verifies with a public key only: what an outside auditor holds."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public
        self.fingerprint = fingerprint(public)
        self.public_b64 = base64.b64encode(public_bytes(public)).decode()

    def verify(self, message: bytes, signature: str) -> bool:
        return verify_with(self.public, message, signature)


def verify_with(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_or_create_signer(path: Path, *, create: bool = True) -> Signer:
    """Read the signing key; create it (0600) when missing and ``create`` is true."""
    if path.exists():
        try:
            seed = base64.b64decode(path.read_bytes().strip(), validate=True)
        except ValueError as exc:
            raise ConfigError(
                "security.signing_key_file",
                f"{path} is not a base64 key",
                hint="restore it from backup",
            ) from exc
        if len(seed) != SEED_BYTES:
            raise ConfigError(
                "security.signing_key_file",
                f"{path} holds {len(seed)} bytes, expected {SEED_BYTES}",
            )
        return Signer(Ed25519PrivateKey.from_private_bytes(seed))
    if not create:
        raise ConfigError(
            "security.signing_key_file",
            f"the signing key {path} is missing",
            hint="restore it from backup; without it audit signatures cannot be checked",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = os.urandom(SEED_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(seed) + b"\n")
    return Signer(Ed25519PrivateKey.from_private_bytes(seed))


def settings_signer(settings: Settings, *, create: bool = True) -> Signer:
    return load_or_create_signer(signing_key_path(settings), create=create)
