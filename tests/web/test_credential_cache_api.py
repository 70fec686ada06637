"""Remembered logins never outlive a change (issue 13, Medium 9: the alert list under load).

The API remembers who a token or session cookie authenticated for up to
``server.credential_cache_seconds`` (vigil.services.credential_cache). Every test first makes the
credential remembered (a successful request), checks that it is, then changes it in this process
and expects the very next request refused. Changes made by another process are seen when the
entry ages out (a fake clock, no waiting). SQLite and PostgreSQL (the ``env`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.config import load_settings
from vigil.domain.enums import Role
from vigil.errors import ConfigError
from vigil.services.credential_cache import CredentialCache
from vigil.services.users import UserService
from vigil.web.security import CSRF_HEADER, SESSION_COOKIE

OPERATOR_PASSWORD = "operator-correct-horse-battery"  # tests/web/conftest.py PASSWORDS


def _user_id(env: Any, name: str) -> int:
    admin = env.client(Role.admin)
    return next(u["id"] for u in admin.get("/api/users").json() if u["username"] == name)


def _token(env: Any, client: TestClient) -> tuple[int, TestClient]:
    r = client.post("/api/tokens", json={"name": "poller"})
    assert r.status_code == 201, r.text
    body = r.json()
    bearer = TestClient(
        env.app,
        headers={"Authorization": f"Bearer {body['secret']}"},
        raise_server_exceptions=False,
    )
    return body["token"]["id"], bearer


def _remembered(env: Any, client: TestClient) -> None:
    """Two successful list requests: the second is answered from the remembered login."""
    before = len(env.state.principals)
    assert client.get("/api/alerts").status_code == 200
    assert client.get("/api/alerts").status_code == 200
    assert len(env.state.principals) >= max(before, 1)


def _cookie_copy(env: Any, client: TestClient) -> TestClient:
    """Another client holding the same session cookie (it keeps it after the owner logs out)."""
    other = TestClient(env.app, raise_server_exceptions=False)
    other.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    other.headers[CSRF_HEADER] = client.headers[CSRF_HEADER]
    return other


def test_a_revoked_token_is_refused_at_once(env: Any) -> None:
    token_id, bearer = _token(env, env.client(Role.operator))
    _remembered(env, bearer)
    assert env.client(Role.admin).delete(f"/api/tokens/{token_id}").status_code == 204
    r = bearer.get("/api/alerts")
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_a_logged_out_session_is_refused_at_once(env: Any) -> None:
    op = env.client(Role.operator)
    thief = _cookie_copy(env, op)
    _remembered(env, thief)
    assert op.post("/api/auth/logout").status_code == 204
    assert thief.get("/api/alerts").status_code == 401


@pytest.mark.parametrize(
    ("change", "token_status", "session_status"),
    [
        ({"role": "auditor"}, 403, 401),  # the token keeps working, with the new role only
        ({"active": False}, 401, 401),
    ],
)
def test_a_role_change_or_deactivation_applies_at_once(
    env: Any, change: dict, token_status: int, session_status: int
) -> None:
    op = env.client(Role.operator)
    _, bearer = _token(env, op)
    _remembered(env, bearer)
    _remembered(env, op)
    admin = env.client(Role.admin)
    assert admin.patch(f"/api/users/{_user_id(env, 'operator')}", json=change).status_code == 200
    assert bearer.get("/api/alerts").status_code == token_status
    assert op.get("/api/alerts").status_code == session_status


@pytest.mark.parametrize("how", ["change", "reset"])
def test_a_password_change_or_reset_applies_at_once(env: Any, how: str) -> None:
    op = env.client(Role.operator)
    _, bearer = _token(env, op)
    thief = _cookie_copy(env, op)
    _remembered(env, bearer)
    _remembered(env, thief)
    if how == "change":
        r = op.post(
            "/api/auth/password",
            json={"current_password": OPERATOR_PASSWORD, "new_password": "cobalt-meadow-ferry-92"},
        )
        assert r.status_code == 204, r.text
    else:
        admin = env.client(Role.admin)
        r = admin.post(f"/api/users/{_user_id(env, 'operator')}/reset-password")
        assert r.status_code == 200, r.text
    assert bearer.get("/api/alerts").status_code == 401
    assert thief.get("/api/alerts").status_code == 401


def test_another_process_revocation_is_seen_within_the_bound(env: Any) -> None:
    """A second server shares only the database: its revocation is seen once the
    remembered login ages out, at most ``credential_cache_seconds`` later."""
    now = [0.0]
    cache: CredentialCache[Any] = CredentialCache(
        env.settings.server.credential_cache_seconds, clock=lambda: now[0]
    )
    state = env.state
    state.principals = state.users.credentials = state.sessions.credentials = cache
    token_id, bearer = _token(env, env.client(Role.operator))
    _remembered(env, bearer)
    # revoked through a service of "another process" (not wired to this app's cache)
    UserService(env.context.db, env.settings.server).revoke_token(token_id, actor="admin")
    assert bearer.get("/api/alerts").status_code == 200  # still remembered: the bound, not 0
    now[0] += env.settings.server.credential_cache_seconds
    assert bearer.get("/api/alerts").status_code == 401


def test_the_bound_is_at_most_two_seconds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="credential_cache_seconds"):
        load_settings({"VIGIL_HOME": str(tmp_path)}, server={"credential_cache_seconds": 5})


def test_csrf_is_still_checked_for_a_remembered_session(env: Any) -> None:
    op = env.client(Role.operator)
    _remembered(env, op)
    del op.headers[CSRF_HEADER]
    r = op.post("/api/auth/logout")
    assert r.status_code == 403 and "CSRF" in r.json()["message"]
