"""The session service on a real SQLite database: signed cookies, hashed tokens, expiry, ending."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from vigil.db.models import LoginSession
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.services.sessions import SessionService
from vigil.services.users import UserService, create_user

KEY = "k" * 40


@pytest.fixture()
def user_ids(db: Database) -> list[int]:
    return [
        create_user(db, f"user{i}", "operator", f"password-{i}-long-enough")[0].id for i in (1, 2)
    ]


def _rows(db: Database) -> list[LoginSession]:
    with db.read() as s:
        return list(s.scalars(select(LoginSession)).all())


def test_cookie_is_signed_and_only_the_token_hash_is_stored(
    db: Database, user_ids: list[int]
) -> None:
    store = SessionService(db, KEY, lifetime_seconds=3600)
    record, cookie = store.create(user_ids[0])
    token, _, sig = cookie.rpartition(".")
    assert len(token) >= 43 and store.lookup(cookie) == record
    (row,) = _rows(db)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.csrf_token) and row.user_id == user_ids[0]
    assert (row.expires_at - row.created_at).total_seconds() == pytest.approx(3600)
    flipped = f"{token}.{sig[:-1]}{'1' if sig[-1] == '0' else '0'}"
    assert store.lookup(flipped) is None
    assert store.lookup(token) is None and store.lookup(None) is None and store.lookup("") is None
    assert SessionService(db, "x" * 40, 3600).lookup(cookie) is None  # signed with another key


def test_a_second_service_on_the_same_database_sees_and_ends_sessions(
    db: Database, user_ids: list[int]
) -> None:
    """Two server processes = two services on one database."""
    a, b = SessionService(db, KEY, 3600), SessionService(db, KEY, 3600)
    record, cookie = a.create(user_ids[0])
    assert b.lookup(cookie) == record
    b.end(record.session_id)
    assert a.lookup(cookie) is None


def test_expired_sessions_are_refused_and_deleted(db: Database, user_ids: list[int]) -> None:
    expired = SessionService(db, KEY, lifetime_seconds=-1)
    _, old = expired.create(user_ids[0])
    assert expired.lookup(old) is None
    live = SessionService(db, KEY, lifetime_seconds=3600)
    _, cookie = live.create(user_ids[1])  # creating a session sweeps expired rows
    assert [r.user_id for r in _rows(db)] == [user_ids[1]]
    assert live.lookup(cookie) is not None


def test_end_user_ends_only_that_users_sessions(db: Database, user_ids: list[int]) -> None:
    store = SessionService(db, KEY, 3600)
    cookies = [store.create(user_ids[0])[1] for _ in range(3)]
    _, other = store.create(user_ids[1])
    assert store.end_user(user_ids[0]) == 3
    assert [store.lookup(c) for c in cookies] == [None, None, None]
    assert store.lookup(other) is not None


@pytest.mark.parametrize(
    ("change", "ends"),
    [
        (lambda u, uid: u.update(uid, role=None, active=False, actor="admin"), True),
        (lambda u, uid: u.update(uid, role=Role.supervisor, active=None, actor="admin"), True),
        (lambda u, uid: u.reset_password(uid, actor="admin"), True),
        (lambda u, uid: u.change_password(uid, "password-1-long-enough", "a-new-long-pass"), True),
        (lambda u, uid: u.update(uid, role=None, active=True, actor="admin"), False),  # no change
    ],
)
def test_user_changes_end_sessions_in_the_same_transaction(
    db: Database, user_ids: list[int], settings: object, change: object, ends: bool
) -> None:
    create_user(db, "admin", Role.admin, "admin-password-long", actor="test")  # keeps an admin
    store = SessionService(db, KEY, 3600)
    _, cookie = store.create(user_ids[0])
    change(UserService(db, settings.server), user_ids[0])  # type: ignore[attr-defined,operator]
    assert (store.lookup(cookie) is None) is ends


def test_short_session_secret_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="32"):
        SessionService(db, "short", 60)


def test_table_holds_one_row_per_live_session(db: Database, user_ids: list[int]) -> None:
    store = SessionService(db, KEY, 3600)
    for _ in range(5):
        record, _ = store.create(user_ids[0])
        store.end(record.session_id)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 0
