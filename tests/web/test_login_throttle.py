"""Issue 13, Medium 8: no hard lockout, one answer for unknown and throttled accounts, and
forwarded headers believed only from configured proxies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from vigil.db.models import AuditEvent, LoginThrottleWindow
from vigil.timeutil import utcnow

RIGHT = "auditor-correct-horse-battery"


def _login(c: TestClient, username: str, password: str) -> Any:
    return c.post("/api/auth/login", json={"username": username, "password": password})


def _age_account_counters(env: Any, seconds: float) -> None:
    """Pretend the last failure happened ``seconds`` earlier (the wait has passed)."""
    with env.context.db.write() as s:
        s.execute(
            update(LoginThrottleWindow)
            .where(LoginThrottleWindow.scope == "account")
            .values(window_start=utcnow() - timedelta(seconds=seconds))
        )


def _audit_clients(env: Any, action: str) -> list[str]:
    with env.context.db.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [r.details["client"] for r in rows]


def test_failures_delay_the_account_but_never_lock_it(env: Any) -> None:
    limit = env.settings.server.login_max_failures
    c = env.client()
    assert [_login(c, "auditor", "bad-password-xx").status_code for _ in range(limit)] == [
        401
    ] * limit
    # Within the wait, even the right password is not checked (same 401 as a wrong one)...
    assert _login(c, "auditor", RIGHT).status_code == 401
    # ...and after the wait it logs in: nobody can lock someone else out.
    _age_account_counters(env, env.settings.server.login_max_delay_seconds + 1)
    assert _login(c, "auditor", RIGHT).status_code == 200


def test_the_wait_grows_with_each_failure(env: Any) -> None:
    limit = env.settings.server.login_max_failures
    c = env.client()
    for _ in range(limit):
        _login(c, "auditor", "bad-password-xx")
    waits = []
    for _ in range(3):
        _age_account_counters(env, 0)  # a failure just now
        waits.append(env.state.users.delay.admit("auditor"))  # refused: returns the wait left
        _age_account_counters(env, 3600 - 1)  # the wait has passed: the next attempt counts
        assert env.state.users.delay.admit("auditor") == 0.0
    assert 0 < waits[0] < waits[1] < waits[2]


def test_unknown_and_throttled_accounts_get_the_same_answer(env: Any) -> None:
    limit = env.settings.server.login_max_failures
    c = env.client()
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for name in ("auditor", "no-such-user"):
        answers[name] = [
            (r.status_code, r.json())
            for r in (_login(c, name, "bad-password-xx") for _ in range(limit + 2))
        ]
    assert answers["auditor"] == answers["no-such-user"]
    assert {code for code, _ in answers["auditor"]} == {401}


def test_per_source_throttle_ignores_a_spoofed_forwarded_for(env: Any) -> None:
    env.state.throttle.limit = 3
    c = env.client()
    codes = [
        c.post(
            "/api/auth/login",
            json={"username": f"x{i}", "password": "p"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    clients = _audit_clients(env, "user.login_failed")
    assert clients and set(clients) == {"testclient"}


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),  # from the trusted proxy
        ("10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # client-set prefix ignored
        ("10.0.0.5", "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two trusted hops
        ("10.0.0.5", "not-an-ip", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
        ("192.0.2.1", "198.51.100.7", "192.0.2.1"),  # peer is not a trusted proxy
    ],
)
def test_forwarded_for_only_from_trusted_proxies(
    env_factory: Any, peer: str, forwarded: str | None, expected: str
) -> None:
    env = env_factory(server={"trusted_proxies": ["10.0.0.0/8"]})
    c = TestClient(env.app, client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = c.post("/api/auth/login", json={"username": "x", "password": "p"}, headers=headers)
    assert r.status_code == 401
    assert _audit_clients(env, "user.login_failed") == [expected]


def test_uvicorn_does_not_rewrite_the_client_address() -> None:
    from vigil.cli.server import ServeOptions, uvicorn_config

    config = uvicorn_config(object(), ServeOptions("127.0.0.1", 8000))
    assert config.proxy_headers is False


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 0.0), (4, 0.0), (5, 1.0), (6, 2.0), (8, 8.0), (40, 60.0)]
)
def test_account_delay_table(env: Any, failures: int, expected: float) -> None:
    from vigil.services.throttle import AccountDelay

    delay = AccountDelay(env.context.db, free_failures=5, base=1.0, cap=60.0)
    assert delay.delay_after(failures) == expected
