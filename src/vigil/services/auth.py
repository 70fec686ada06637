"""Logging in and out and changing one's password: the session side of a user's credentials.

:class:`AuthService` joins the three services a login touches (the per-source throttle, the
user's password check with its per-account delay, and the durable session) so that each web
route makes one call. Sessions and counters live in the database (see
:mod:`vigil.services.sessions` and :mod:`vigil.services.throttle`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vigil.db.models import User
from vigil.services.sessions import SessionRecord, SessionService
from vigil.services.throttle import LoginThrottle, LoginThrottled
from vigil.services.users import UserService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: its record and the cookie value that names it."""

    user: User
    record: SessionRecord
    cookie: str


class AuthService:
    """Verbs :meth:`login`, :meth:`logout` and :meth:`change_password`."""

    def __init__(self, users: UserService, sessions: SessionService, throttle: LoginThrottle):
        self.users = users
        self.sessions = sessions
        self.throttle = throttle

    def login(self, username: str, password: str, *, client: str) -> NewSession:
        """Check the source's throttle, then the password; opens a session on success."""
        if not self.throttle.allow(client):
            # the address is personal data: the log says only that it happened (the logs view
            # holds no personal data, see vigil.services.logs)
            log.warning("a login was throttled: too many attempts from one client address")
            raise LoginThrottled(
                "too many login attempts from your address", hint="wait a minute and try again"
            )
        user = self.users.login(username, password, client=client)
        record, cookie = self.sessions.create(user.id)
        return NewSession(user, record, cookie)

    def logout(self, session: SessionRecord | None, username: str, *, client: str) -> None:
        """End this session (an API token has none to end)."""
        if session is None:
            return
        self.sessions.end(session.session_id)
        self.users.logout(username, client=client)

    def change_password(
        self,
        user_id: int,
        current: str,
        new: str,
        *,
        keep_tokens: bool,
        with_session: bool,
    ) -> NewSession | None:
        """Change one's password: every session of the user ends (in the same transaction);
        a caller on a session gets a fresh one, so this browser stays logged in."""
        self.users.change_password(user_id, current, new, keep_tokens=keep_tokens)
        if not with_session:
            return None
        record, cookie = self.sessions.create(user_id)
        return NewSession(self.users.get(user_id), record, cookie)
