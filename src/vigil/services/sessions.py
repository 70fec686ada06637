"""Server-side login sessions in the database: they survive restarts and are shared by processes.

The cookie holds ``token.signature``: a 256-bit random token and its HMAC-SHA256 under
``server.secret_key`` (a forged or foreign cookie is refused before any query). The table stores
only the SHA-256 of the token, with the user, the session's CSRF token, and wall-clock UTC times
(created, expires, last seen). Lifetimes are absolute (``server.session_hours``).

Ending sessions is a DELETE, so logout, a password change, a role change or deactivation take
effect in every process at once. Expired rows are deleted whenever a session is created, so the
table holds only live sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.db.models import LoginSession
from vigil.db.session import Database
from vigil.repositories.sessions import SessionRepo
from vigil.services.credential_cache import CredentialCache
from vigil.services.credentials import generate_session_token, hash_session_token
from vigil.timeutil import utcnow

LAST_SEEN_RESOLUTION = timedelta(seconds=60)  # how precisely last_seen_at is kept (spares writes)
MIN_SECRET = 32


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session. ``session_id`` names it for :meth:`SessionService.end` (not the token)."""

    session_id: str
    user_id: int
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime


def _record(row: LoginSession) -> SessionRecord:
    return SessionRecord(
        session_id=row.token_hash,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
    )


class SessionService:
    """Creates, finds and ends login sessions (``create``/``lookup``/``end``/``end_user``)."""

    def __init__(
        self,
        db: Database,
        secret_key: str,
        lifetime_seconds: float,
        credentials: CredentialCache[Any] | None = None,
    ) -> None:
        if len(secret_key) < MIN_SECRET:
            raise ValueError(f"the session secret must have at least {MIN_SECRET} characters")
        self.db = db
        self._key = secret_key.encode()
        self.lifetime = timedelta(seconds=lifetime_seconds)
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self._watch_lock = threading.Lock()
        # forgotten when a session ends, so a cached login never outlives it in this process
        self.credentials = credentials if credentials is not None else CredentialCache(0)

    def watch(self, session_id: str, on_end: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_end`` (never blocking) when this process ends the session; returns the
        unsubscribe function. Live feeds use it to close at logout at once (other processes'
        ends are seen by their periodic re-check)."""
        with self._watch_lock:
            self._watchers.setdefault(session_id, []).append(on_end)

        def unwatch() -> None:
            with self._watch_lock:
                callbacks = self._watchers.get(session_id, [])
                if on_end in callbacks:
                    callbacks.remove(on_end)
                if not callbacks:
                    self._watchers.pop(session_id, None)

        return unwatch

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def create(self, user_id: int) -> tuple[SessionRecord, str]:
        """A new session and the signed cookie value that names it."""
        token = generate_session_token()
        now = utcnow()
        row = LoginSession(
            token_hash=hash_session_token(token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self.lifetime,
            last_seen_at=now,
        )
        with self.db.write() as s:
            repo = SessionRepo(s)
            repo.delete_expired(now)
            repo.add(row)
            record = _record(row)
        return record, f"{token}.{self._sign(token)}"

    def lookup(self, cookie_value: str | None) -> SessionRecord | None:
        """The live session a cookie names, or None for a missing, forged, ended or expired one."""
        if not cookie_value or "." not in cookie_value:
            return None
        token, _, signature = cookie_value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(token)):
            return None
        digest = hash_session_token(token)
        now = utcnow()
        with self.db.read() as s:
            row = SessionRepo(s).live(digest, now)
            record = _record(row) if row is not None else None
        if record is not None and now - record.last_seen_at > LAST_SEEN_RESOLUTION:
            with self.db.write() as s:
                SessionRepo(s).touch(digest, now)
        return record

    def end(self, session_id: str) -> None:
        with self.credentials.changing(), self.db.write() as s:
            SessionRepo(s).delete(session_id)
        with self._watch_lock:
            callbacks = list(self._watchers.get(session_id, []))
        for on_end in callbacks:
            on_end()

    def end_user(self, user_id: int) -> int:
        """End every session of a user, in every process; returns how many there were."""
        with self.credentials.changing(), self.db.write() as s:
            return end_user_sessions(s, user_id)


def end_user_sessions(s: Session, user_id: int) -> int:
    """End a user's sessions inside the caller's write transaction (password or role changes)."""
    return SessionRepo(s).delete_for_user(user_id)
