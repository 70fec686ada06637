"""Credential primitives: argon2id hashes, API token hashes, CSRF, the WebSocket origin check.

Sessions and the login throttle: tests/services/test_sessions.py and test_throttle.py."""

from __future__ import annotations

import pytest

from vigil.web import security
from vigil.web.security import (
    SessionRecord,
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


def test_csrf_comparison() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = SessionRecord("id", 1, "the-csrf-token", now, now)
    assert csrf_ok(record, record.csrf_token)
    assert not csrf_ok(record, None) and not csrf_ok(record, "") and not csrf_ok(record, "nope")


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
