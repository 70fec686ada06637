"""Credential primitives: argon2id hashes, API token hashes, signed session cookies, CSRF."""

from __future__ import annotations

import pytest

from vigil.web import security
from vigil.web.security import (
    LoginThrottle,
    SessionStore,
    csrf_ok,
    generate_api_token,
    hash_api_token,
)


def test_production_hasher_is_strong_argon2id() -> None:
    from argon2 import Type

    hasher = security.production_hasher()  # the tests' autouse fixture swaps in a cheaper one
    assert hasher.type is Type.ID
    assert hasher.time_cost >= 2 and hasher.memory_cost >= 19_456  # OWASP minimums
    assert hasher.hash("a-password-of-length").startswith("$argon2id$")


def test_password_hash_roundtrip_and_unknown_user() -> None:
    h = security.hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct" not in h
    assert security.verify_password(h, "correct horse battery")
    assert not security.verify_password(h, "correct horse batterY")
    assert not security.verify_password(None, "anything")  # unknown user: dummy hash, never true
    assert not security.verify_password("not-a-hash", "x")


def test_api_tokens_are_random_and_hashed() -> None:
    a, b = generate_api_token(), generate_api_token()
    assert a != b and a.startswith("vgl_") and len(a) > 40
    assert hash_api_token(a) != a and len(hash_api_token(a)) == 64


def test_session_cookie_signature_and_expiry() -> None:
    store = SessionStore("k" * 40, lifetime_seconds=3600)
    record, cookie = store.create(7)
    assert store.lookup(cookie) == record
    sid, _, sig = cookie.rpartition(".")
    assert store.lookup(f"{sid}.{sig[:-1]}0" if sig[-1] != "0" else f"{sid}.{sig[:-1]}1") is None
    assert store.lookup(sid) is None and store.lookup(None) is None
    other = SessionStore("x" * 40, lifetime_seconds=3600)
    assert other.lookup(cookie) is None  # signed with another key
    expired = SessionStore("k" * 40, lifetime_seconds=-1)
    _, old = expired.create(7)
    assert expired.lookup(old) is None
    assert store.end_user(7) == 1 and store.lookup(cookie) is None


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        SessionStore("short", 60)


def test_csrf_comparison() -> None:
    record, _ = SessionStore("k" * 40, 60).create(1)
    assert csrf_ok(record, record.csrf_token)
    assert not csrf_ok(record, None) and not csrf_ok(record, "") and not csrf_ok(record, "nope")


def test_login_throttle_window() -> None:
    throttle = LoginThrottle(limit=2, window=3600)
    assert [throttle.allow("1.2.3.4") for _ in range(3)] == [True, True, False]
    assert throttle.allow("5.6.7.8")


@pytest.mark.parametrize(
    ("origin", "host", "expected"),
    [
        (None, "vigil.local:8000", True),
        ("http://vigil.local:8000", "vigil.local:8000", True),
        ("https://evil.example", "vigil.local:8000", False),
        ("http://vigil.local:9999", "vigil.local:8000", False),
    ],
)
def test_websocket_origin_check(origin: str | None, host: str, expected: bool) -> None:
    from starlette.requests import HTTPConnection

    from vigil.web.deps import same_origin

    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
    conn = HTTPConnection({"type": "websocket", "headers": headers, "path": "/ws/alerts"})
    assert same_origin(conn) is expected


def test_cross_site_websocket_is_refused(env: object) -> None:
    from starlette.websockets import WebSocketDisconnect

    from vigil.domain.enums import Role

    client = env.client(Role.operator)  # type: ignore[attr-defined]
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws/alerts", headers={"origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert info.value.code in (4401, 4403)  # refused before any data (ws.py checks Origin too)
