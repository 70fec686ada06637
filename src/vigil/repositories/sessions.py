"""Login sessions (server-side; the cookie's token is stored only as its SHA-256)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vigil.db.models import LoginSession
from vigil.repositories._rows import rowcount


class SessionRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, row: LoginSession) -> LoginSession:
        self.s.add(row)
        self.s.flush()
        return row

    def live(self, token_hash: str, now: datetime) -> LoginSession | None:
        """The session with this token hash, unless it has expired."""
        return self.s.scalar(
            select(LoginSession).where(
                LoginSession.token_hash == token_hash, LoginSession.expires_at > now
            )
        )

    def touch(self, token_hash: str, now: datetime) -> int:
        return rowcount(
            self.s.execute(
                update(LoginSession)
                .where(LoginSession.token_hash == token_hash)
                .values(last_seen_at=now)
            )
        )

    def delete(self, token_hash: str) -> int:
        return rowcount(
            self.s.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash))
        )

    def delete_for_user(self, user_id: int) -> int:
        return rowcount(self.s.execute(delete(LoginSession).where(LoginSession.user_id == user_id)))

    def delete_expired(self, now: datetime) -> int:
        return rowcount(self.s.execute(delete(LoginSession).where(LoginSession.expires_at <= now)))
