"""Credentials belong to one person (issue 13, High 3 and Low 'tokens survive a password change').

API tokens are minted by their owner only, a password change, a reset or a reactivation revokes
them, and every audit record made for a web caller names the credential it used.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigil.db.models import ApiToken, AuditEvent
from vigil.domain.enums import Role
from vigil.errors import PermissionDenied
from vigil.services.users import UserService
from vigil.web.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

OPERATOR_PASSWORD = "operator-correct-horse-battery"  # tests/web/conftest.py PASSWORDS


def _user_id(env: Any, name: str) -> int:
    admin = env.client(Role.admin)
    return next(u["id"] for u in admin.get("/api/users").json() if u["username"] == name)


def _bearer(env: Any, secret: str) -> TestClient:
    return TestClient(
        env.app, headers={"Authorization": f"Bearer {secret}"}, raise_server_exceptions=False
    )


def _mint(client: TestClient, name: str = "machine") -> dict[str, Any]:
    r = client.post("/api/tokens", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def _events(env: Any, action: str) -> list[AuditEvent]:
    with env.context.db.read() as s:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(s.scalars(query).all())


def _tokens_of(env: Any, username: str) -> int:
    users = UserService(env.context.db, env.settings.server)
    return sum(1 for _, owner in users.list_tokens() if owner == username)


# -- minting -------------------------------------------------------------------------------------
@pytest.mark.parametrize("minter", [Role.admin, Role.supervisor])
def test_nobody_mints_a_token_for_someone_else(env: Any, minter: Role) -> None:
    op_id = _user_id(env, "operator")
    r = env.client(minter).post("/api/tokens", json={"user_id": op_id, "name": "ingest"})
    assert r.status_code == 403
    assert "owner only" in r.json()["message"] and "leave out user_id" in r.json()["message"]
    assert _tokens_of(env, "operator") == 0
    assert _events(env, "token.create") == []


def test_the_service_refuses_a_token_for_someone_else(env: Any) -> None:
    users = UserService(env.context.db, env.settings.server)
    with pytest.raises(PermissionDenied, match="owner only"):
        users.create_token(_user_id(env, "operator"), "ingest", actor="admin")


@pytest.mark.parametrize("role", list(Role))
def test_every_role_mints_its_own_token(env: Any, role: Role) -> None:
    client = env.client(role)
    own_id = client.get("/api/auth/me").json()["id"]
    body = _mint(client) if role is Role.operator else None
    if body is None:  # also with its own id named explicitly
        r = client.post("/api/tokens", json={"user_id": own_id, "name": "machine"})
        assert r.status_code == 201, r.text
        body = r.json()
    assert body["token"]["username"] == role.value and body["token"]["user_id"] == own_id
    me = _bearer(env, body["secret"]).get("/api/auth/me").json()
    assert me["username"] == role.value and me["via"] == "token"
    assert [e.actor for e in _events(env, "token.create")] == [role.value]


def test_a_token_cannot_mint_tokens(env: Any) -> None:
    machine = _bearer(env, _mint(env.client(Role.operator))["secret"])
    r = machine.post("/api/tokens", json={"name": "another"})
    assert r.status_code == 403 and "cannot create API tokens" in r.json()["message"]
    assert _tokens_of(env, "operator") == 1


def test_listing_and_revoking_tokens(env: Any) -> None:
    op, sup, admin = env.client(Role.operator), env.client(Role.supervisor), env.client(Role.admin)
    op_token = _mint(op)["token"]
    sup_token = _mint(sup)["token"]
    assert [t["id"] for t in op.get("/api/tokens").json()] == [op_token["id"]]
    assert {t["id"] for t in admin.get("/api/tokens").json()} == {op_token["id"], sup_token["id"]}
    # Someone else's token is "not found" for a non-admin; an admin revokes anyone's.
    r = op.delete(f"/api/tokens/{sup_token['id']}")
    assert r.status_code == 404 and str(sup_token["id"]) in r.json()["message"]
    assert op.delete(f"/api/tokens/{op_token['id']}").status_code == 204
    assert admin.delete(f"/api/tokens/{sup_token['id']}").status_code == 204
    assert admin.get("/api/tokens").json() == []


# -- revocation ----------------------------------------------------------------------------------
def _change_password(client: TestClient, current: str, new: str, **extra: object) -> None:
    r = client.post(
        "/api/auth/password", json={"current_password": current, "new_password": new, **extra}
    )
    assert r.status_code == 204, r.text
    client.headers[CSRF_HEADER] = client.cookies[CSRF_COOKIE]  # the session was renewed


@pytest.mark.parametrize(("keep", "alive"), [({}, False), ({"keep_tokens": True}, True)])
def test_a_password_change_revokes_tokens_unless_kept(env: Any, keep: dict, alive: bool) -> None:
    op = env.client(Role.operator)
    machine = _bearer(env, _mint(op)["secret"])
    assert machine.get("/api/auth/me").status_code == 200
    _change_password(op, OPERATOR_PASSWORD, "cobalt-meadow-ferry-92", **keep)
    assert (machine.get("/api/auth/me").status_code == 200) is alive
    assert _tokens_of(env, "operator") == int(alive)
    details = _events(env, "user.password_change")[-1].details
    assert details["tokens_revoked"] == (0 if alive else 1)
    assert details["tokens_kept"] is alive


@pytest.mark.parametrize("how", ["reactivation", "reset"])
def test_reactivation_and_reset_revoke_tokens(env: Any, how: str) -> None:
    machine = _bearer(env, _mint(env.client(Role.operator))["secret"])
    admin, op_id = env.client(Role.admin), _user_id(env, "operator")
    if how == "reactivation":
        assert admin.patch(f"/api/users/{op_id}", json={"active": False}).status_code == 200
        assert admin.patch(f"/api/users/{op_id}", json={"active": True}).status_code == 200
        assert _events(env, "user.update")[-1].details["tokens_revoked"] == 1
    else:
        assert admin.post(f"/api/users/{op_id}/reset-password").status_code == 200
        assert _events(env, "user.password_reset")[-1].details["tokens_revoked"] == 1
    r = machine.get("/api/auth/me")
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    with env.context.db.read() as s:
        assert s.scalars(select(ApiToken)).all() == []


# -- the credential in the audit -----------------------------------------------------------------
def _session_id(client: TestClient) -> str:
    token = client.cookies[SESSION_COOKIE].rpartition(".")[0]
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def test_every_web_action_names_its_credential_in_the_audit(env: Any) -> None:
    admin = env.client(Role.admin)
    sup = env.client(Role.supervisor)
    token = _mint(sup)
    machine = _bearer(env, token["secret"])
    assert admin.post("/api/users", json={"username": "newbie", "role": "operator"}).status_code
    assert machine.post("/api/cameras", json={"name": "gate", "url": "rtsp://127.0.0.1:9/x"})
    created = _events(env, "user.create")[-1]
    assert created.actor == "admin"
    assert created.details["credential"] == f"session:{_session_id(admin)}"
    assert _events(env, "token.create")[-1].details["credential"] == f"session:{_session_id(sup)}"
    camera = _events(env, "camera.add")[-1]
    assert camera.actor == "supervisor"
    assert camera.details["credential"] == f"token:{token['token']['id']}"
