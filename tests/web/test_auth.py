"""Login, sessions, CSRF, lockout, one-time passwords and API tokens."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigil.config import load_settings
from vigil.context import AppContext
from vigil.db.models import AuditEvent, User
from vigil.domain.enums import Role
from vigil.errors import ConfigError
from vigil.services.users import create_user
from vigil.web.app import create_app
from vigil.web.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE


def _audit(env: Any, action: str) -> list[AuditEvent]:
    with env.context.db.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_login_sets_hardened_cookies_and_audits(env: Any) -> None:
    c = env.client()
    r = c.post(
        "/api/auth/login",
        json={"username": "operator", "password": "operator-correct-horse-battery"},
    )
    assert r.status_code == 200
    cookies = {h.split("=", 1)[0]: h.lower() for h in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies[SESSION_COOKIE] and "samesite=strict" in cookies[SESSION_COOKIE]
    assert "httponly" not in cookies[CSRF_COOKIE] and "samesite=strict" in cookies[CSRF_COOKIE]
    assert r.json()["csrf_token"] == c.cookies[CSRF_COOKIE]
    assert c.get("/api/auth/me").json()["username"] == "operator"
    assert [e.actor for e in _audit(env, "user.login")] == ["operator"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("operator", "wrong-password-123"), ("nobody", "whatever-password"), ("operator", "")],
)
def test_bad_credentials_are_refused(env: Any, username: str, password: str) -> None:
    r = env.client().post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == (422 if not password else 401)  # an empty password is malformed
    if r.status_code == 401:
        assert r.json()["message"].startswith("wrong username or password")
        assert _audit(env, "user.login_failed")[-1].target == username


def test_forged_session_cookie_is_anonymous(env: Any) -> None:
    c = env.client(Role.admin)
    value = c.cookies[SESSION_COOKIE]
    sid, _, sig = value.rpartition(".")
    c.cookies.set(SESSION_COOKIE, f"{sid}.{'0' * len(sig)}")
    assert c.get("/api/users").status_code == 401


def test_login_throttle_per_client(env: Any) -> None:
    env.state.throttle.limit = 3
    c = env.client()
    codes = [
        c.post("/api/auth/login", json={"username": f"x{i}", "password": "p"}).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 403), ("wrong-token", 403), ("from-cookie", 201)],
)
def test_csrf_needed_on_session_writes(env: Any, header: str | None, expected: int) -> None:
    c = env.client(Role.admin)
    token = c.headers.pop(CSRF_HEADER)
    headers = {} if header is None else {CSRF_HEADER: token if header == "from-cookie" else header}
    r = c.post("/api/users", json={"username": "newbie", "role": "operator"}, headers=headers)
    assert r.status_code == expected
    if expected == 403:
        assert "CSRF" in r.json()["message"]
    # Reads need no token.
    assert c.get("/api/users").status_code == 200


def test_api_token_is_exempt_from_csrf_and_revocable(env: Any) -> None:
    admin = env.client(Role.admin)
    owner = env.client(Role.supervisor)  # tokens are minted by their owner
    created = owner.post("/api/tokens", json={"name": "ingest"}).json()
    assert created["token"]["username"] == "supervisor"
    secret = created["secret"]
    assert secret.startswith("vgl_")
    with env.context.db.read() as s:
        from vigil.db.models import ApiToken

        assert secret not in {t.token_hash for t in s.scalars(select(ApiToken))}
    machine = TestClient(env.app, headers={"Authorization": f"Bearer {secret}"})
    r = machine.post("/api/cameras", json={"name": "gate", "url": "rtsp://127.0.0.1:9/x"})
    assert r.status_code == 201
    assert admin.get("/api/tokens").json()[0]["last_used_at"] is not None
    assert admin.delete(f"/api/tokens/{created['token']['id']}").status_code == 204
    assert machine.get("/api/cameras").status_code == 401
    assert (
        TestClient(env.app, headers={"Authorization": "Basic abc"}).get("/api/cameras").status_code
        == 401
    )


def test_logout_ends_the_session(env: Any) -> None:
    c = env.client(Role.operator)
    old = c.cookies[SESSION_COOKIE]
    assert c.post("/api/auth/logout").status_code == 204
    assert [e.actor for e in _audit(env, "user.logout")] == ["operator"]
    c.cookies.set(SESSION_COOKIE, old)
    assert c.get("/api/auth/me").status_code == 401


def test_one_time_password_must_be_changed_first(env: Any) -> None:
    _, otp = create_user(env.context.db, "fresh", Role.operator)
    c = env.client()
    r = c.post("/api/auth/login", json={"username": "fresh", "password": otp})
    assert r.json()["must_change_password"] is True
    c.headers[CSRF_HEADER] = r.json()["csrf_token"]
    r = c.get("/api/alerts")
    assert r.status_code == 403 and "one-time password" in r.json()["message"]
    short = c.post("/api/auth/password", json={"current_password": otp, "new_password": "short"})
    assert short.status_code == 400 and "at least 12" in short.json()["message"]
    wrong = c.post(
        "/api/auth/password",
        json={"current_password": "nope", "new_password": "a-long-new-password"},
    )
    assert wrong.status_code == 403
    ok = c.post(
        "/api/auth/password", json={"current_password": otp, "new_password": "a-long-new-password"}
    )
    assert ok.status_code == 204
    c.headers[CSRF_HEADER] = c.cookies[CSRF_COOKIE]  # the session was renewed
    assert c.get("/api/alerts").status_code == 200
    with env.context.db.read() as s:
        assert s.scalar(select(User.must_change_password).where(User.username == "fresh")) is False


def test_deactivated_user_loses_sessions_and_login(env: Any) -> None:
    op = env.client(Role.operator)
    admin = env.client(Role.admin)
    op_id = next(u["id"] for u in admin.get("/api/users").json() if u["username"] == "operator")
    assert admin.patch(f"/api/users/{op_id}", json={"active": False}).json()["active"] is False
    assert op.get("/api/alerts").status_code == 401
    r = env.client().post(
        "/api/auth/login",
        json={"username": "operator", "password": "operator-correct-horse-battery"},
    )
    assert r.status_code == 401


def test_password_change_ends_the_users_other_sessions(env: Any) -> None:
    here, elsewhere, other_user = (
        env.client(Role.operator),
        env.client(Role.operator),
        env.client(Role.supervisor),
    )
    r = here.post(
        "/api/auth/password",
        json={
            "current_password": "operator-correct-horse-battery",
            "new_password": "a-different-horse-battery",
        },
    )
    assert r.status_code == 204
    here.headers[CSRF_HEADER] = here.cookies[CSRF_COOKIE]  # renewed
    assert here.get("/api/auth/me").status_code == 200
    assert elsewhere.get("/api/auth/me").status_code == 401
    assert other_user.get("/api/auth/me").status_code == 200


def test_role_change_and_password_reset_end_sessions(env: Any) -> None:
    op, admin = env.client(Role.operator), env.client(Role.admin)
    op_id = next(u["id"] for u in admin.get("/api/users").json() if u["username"] == "operator")
    assert admin.patch(f"/api/users/{op_id}", json={"role": "auditor"}).status_code == 200
    assert op.get("/api/auth/me").status_code == 401
    op = env.client()
    r = op.post(
        "/api/auth/login",
        json={"username": "operator", "password": "operator-correct-horse-battery"},
    )
    assert r.status_code == 200 and r.json()["role"] == "auditor"
    assert admin.post(f"/api/users/{op_id}/reset-password").status_code == 200
    assert op.get("/api/auth/me").status_code == 401


def test_created_user_gets_a_generated_one_time_password(env: Any) -> None:
    admin = env.client(Role.admin)
    a = admin.post("/api/users", json={"username": "op2", "role": "operator"}).json()
    b = admin.post("/api/users", json={"username": "op3", "role": "operator"}).json()
    assert len(a["one_time_password"]) >= 16 and a["one_time_password"] != b["one_time_password"]
    assert a["user"]["must_change_password"] is True
    dup = admin.post("/api/users", json={"username": "op2", "role": "auditor"})
    assert dup.status_code == 409


def test_last_admin_cannot_be_demoted(env: Any) -> None:
    admin = env.client(Role.admin)
    me = admin.get("/api/auth/me").json()
    r = admin.patch(f"/api/users/{me['id']}", json={"role": "operator"})
    assert r.status_code == 409 and "no active administrator" in r.json()["message"]


def test_missing_secret_key_is_refused(context: AppContext) -> None:
    assert context.settings.server.secret_key is None
    with pytest.raises(ConfigError, match="vigil init"):
        create_app(context.settings, context=context)


def test_placeholder_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings({"VIGIL_HOME": str(tmp_path), "VIGIL_SECRET_KEY": "changeme"})


def test_ephemeral_secret_only_when_asked(context: AppContext, vigil_home: Path) -> None:
    app = create_app(context.settings, context=context, ephemeral_secret=True)
    assert TestClient(app).get("/api/health").status_code == 200
    other = load_settings(
        {"VIGIL_HOME": str(vigil_home), "VIGIL_SECRET_KEY": secrets.token_urlsafe(40)}
    )
    assert other.server.secret_key is not None
