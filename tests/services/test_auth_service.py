"""AuthService: one call per route for login, logout and password change (real database)."""

from __future__ import annotations

import secrets

import pytest

from vigil.config import Settings
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.services.auth import AuthService
from vigil.services.sessions import SessionService
from vigil.services.throttle import LoginThrottle, LoginThrottled
from vigil.services.users import UserService, create_user

PASSWORD = "granite-orchard-violin-58"


@pytest.fixture()
def auth(db: Database, settings: Settings) -> AuthService:
    create_user(db, "olga", Role.operator, PASSWORD, actor="test")
    sessions = SessionService(db, secrets.token_urlsafe(40), 3600.0)
    return AuthService(
        UserService(db, settings.server), sessions, LoginThrottle(db, limit=2, window=60.0)
    )


def test_login_opens_a_session_that_logout_ends(auth: AuthService) -> None:
    new = auth.login("olga", PASSWORD, client="10.0.0.1")
    assert new.user.username == "olga"
    assert auth.sessions.lookup(new.cookie) == new.record
    auth.logout(new.record, "olga", client="10.0.0.1")
    assert auth.sessions.lookup(new.cookie) is None


def test_the_source_throttle_comes_before_the_password(auth: AuthService) -> None:
    for _ in range(2):
        auth.login("olga", PASSWORD, client="10.0.0.2")
    with pytest.raises(LoginThrottled):
        auth.login("olga", PASSWORD, client="10.0.0.2")  # right password, source over its limit
    assert auth.login("olga", PASSWORD, client="10.0.0.3").user.username == "olga"


def test_a_password_change_ends_every_session_and_opens_one(auth: AuthService) -> None:
    first = auth.login("olga", PASSWORD, client="10.0.0.4")
    other = auth.login("olga", PASSWORD, client="10.0.0.5")
    new = auth.change_password(
        first.user.id, PASSWORD, "copper-lagoon-thistle-31", keep_tokens=False, with_session=True
    )
    assert new is not None and auth.sessions.lookup(new.cookie) is not None
    assert auth.sessions.lookup(first.cookie) is None
    assert auth.sessions.lookup(other.cookie) is None
    token_caller = auth.change_password(
        first.user.id,
        "copper-lagoon-thistle-31",
        "ember-quarry-saffron-64",
        keep_tokens=True,
        with_session=False,
    )
    assert token_caller is None  # an API-token caller gets no session


def test_logout_without_a_session_does_nothing(auth: AuthService) -> None:
    auth.logout(None, "olga", client="10.0.0.6")  # an API token: nothing to end
