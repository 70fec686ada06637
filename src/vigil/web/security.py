"""Credentials and sessions: argon2id passwords, hashed API tokens, signed session cookies, CSRF.

* Passwords are hashed with argon2id (argon2-cffi); a dummy hash is checked for unknown users so
  that response time does not reveal which usernames exist.
* API tokens (``vgl_`` + 43 random characters) are shown once and stored as SHA-256 hashes: they
  carry 256 bits of entropy, so a slow hash adds nothing.
* Sessions live in server memory (:class:`SessionStore`); the cookie holds the session id and an
  HMAC-SHA256 signature made with ``server.secret_key``. Logging out, deactivating the user or
  restarting the server ends them.
* CSRF: each session has its own random token, sent in a readable cookie; every state-changing
  request made with the session cookie must echo it in the ``X-CSRF-Token`` header
  (double submit, compared with the server-side copy). Bearer-token calls are exempt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "vgl_"
MIN_PASSWORD_LENGTH = 12
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


@dataclass(slots=True)
class SessionRecord:
    session_id: str
    user_id: int
    csrf_token: str
    expires_at: float  # time.monotonic() deadline


class SessionStore:
    """Server-side sessions keyed by random ids; cookies carry ``id.signature``."""

    def __init__(self, secret_key: str, lifetime_seconds: float) -> None:
        if len(secret_key) < 32:
            raise ValueError("the session secret must have at least 32 characters")
        self._key = secret_key.encode()
        self.lifetime = lifetime_seconds
        self._sessions: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def create(self, user_id: int) -> tuple[SessionRecord, str]:
        """A new session and the signed cookie value that names it."""
        record = SessionRecord(
            session_id=secrets.token_urlsafe(32),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=time.monotonic() + self.lifetime,
        )
        with self._lock:
            self._purge_expired()
            self._sessions[record.session_id] = record
        return record, f"{record.session_id}.{self._sign(record.session_id)}"

    def lookup(self, cookie_value: str | None) -> SessionRecord | None:
        """The live session a cookie names, or None for a missing, forged or expired cookie."""
        if not cookie_value or "." not in cookie_value:
            return None
        session_id, _, signature = cookie_value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        with self._lock:
            record = self._sessions.get(session_id)
            if record is None:
                return None
            if record.expires_at <= time.monotonic():
                del self._sessions[session_id]
                return None
            return record

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def end_user(self, user_id: int) -> int:
        """End every session of a user (deactivated, role changed, password reset)."""
        with self._lock:
            ids = [sid for sid, rec in self._sessions.items() if rec.user_id == user_id]
            for sid in ids:
                del self._sessions[sid]
            return len(ids)

    def _purge_expired(self) -> None:
        now = time.monotonic()
        for sid in [sid for sid, rec in self._sessions.items() if rec.expires_at <= now]:
            del self._sessions[sid]


class LoginThrottle:
    """At most ``limit`` login attempts per client address in a sliding ``window`` (seconds).

    This complements the per-account lockout: it slows down guessing across many usernames.
    """

    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


def csrf_ok(record: SessionRecord, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(header_value or "", record.csrf_token)
