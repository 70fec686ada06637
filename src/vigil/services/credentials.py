"""Credential primitives: argon2id passwords, random secrets, and the hashes stored for them.

* Passwords are hashed with argon2id (argon2-cffi); a dummy hash is checked for unknown users so
  that response time does not reveal which usernames exist.
* API tokens (``vgl_`` + 43 random characters) and session tokens (43 random characters) carry
  256 bits of entropy and are stored only as SHA-256 hashes: a slow hash adds nothing for them.

Services and the web layer both import from here (services never import ``vigil.web``).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "vgl_"
MIN_PASSWORD_LENGTH = 12


def production_hasher() -> PasswordHasher:
    """argon2id with the library's recommended parameters (RFC 9106 low-memory profile)."""
    return PasswordHasher()


_hasher = production_hasher()
_DUMMY_HASH: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an unknown user (``None``) costs the same time and fails."""
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _DUMMY_HASH
        password = password + "\x00never"
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A one-time password: 18 random URL-safe characters (about 108 bits)."""
    return secrets.token_urlsafe(14)


def generate_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_session_token() -> str:
    """A session token: 32 random bytes (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def hash_session_token(token: str) -> str:
    """What the sessions table stores for a token (SHA-256, hex): a leaked table opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()
