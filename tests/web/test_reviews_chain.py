"""The two-person rule needs two people with independent credentials (issue 13, High 3).

One admin must not be able to produce both confirmations: not with a token minted for another
user, not with a one-time password they set, and not after resetting someone's password while the
alert is open (they could have changed it themselves). See vigil.services.reviews.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigil.accountability import audit
from vigil.db.models import ApiToken, AuditEvent
from vigil.domain.enums import AlertStatus, Role
from vigil.errors import Conflict, PermissionDenied
from vigil.services.credentials import generate_api_token, hash_api_token
from vigil.web.security import CSRF_COOKIE, CSRF_HEADER

NEW_PASSWORD = "violet-harbour-lantern-47"


def _review(client: TestClient, alert_id: int, decision: str = "confirm", reason: str = "") -> Any:
    return client.post(
        f"/api/alerts/{alert_id}/reviews", json={"decision": decision, "reason": reason}
    )


def _reset_operator(env: Any) -> str:
    """The admin resets the operator's password; returns the one-time password."""
    admin = env.client(Role.admin)
    op_id = next(u["id"] for u in admin.get("/api/users").json() if u["username"] == "operator")
    return admin.post(f"/api/users/{op_id}/reset-password").json()["one_time_password"]


def _login(env: Any, password: str) -> TestClient:
    c = env.client()
    r = c.post("/api/auth/login", json={"username": "operator", "password": password})
    assert r.status_code == 200, r.text
    c.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return c


def _change(client: TestClient, current: str) -> None:
    r = client.post(
        "/api/auth/password", json={"current_password": current, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 204, r.text
    client.headers[CSRF_HEADER] = client.cookies[CSRF_COOKIE]


def _status(env: Any, alert_id: int) -> str:
    return env.client(Role.supervisor).get(f"/api/alerts/{alert_id}").json()["status"]


def test_a_reset_before_the_alert_blocks_review_until_the_owner_changes_it(
    env: Any, make_alert: Callable[..., int]
) -> None:
    otp = _reset_operator(env)
    alert_id = make_alert()
    assert _review(env.client(Role.admin), alert_id).status_code == 200
    op = _login(env, otp)
    refused = _review(op, alert_id)
    assert refused.status_code == 403 and "one-time password" in refused.json()["message"]
    assert _status(env, alert_id) == "pending_second"
    _change(op, otp)
    second = _review(op, alert_id)
    assert second.status_code == 200 and second.json()["status"] == "confirmed"


@pytest.mark.parametrize("admin_first", [True, False], ids=["admin-first", "operator-first"])
def test_a_reset_during_the_alert_breaks_the_chain_even_after_a_change(
    env: Any, make_alert: Callable[..., int], admin_first: bool
) -> None:
    """The attack: the admin resets the operator, logs in as them, changes the password and
    confirms as 'operator'. Whatever the order, the alert is not confirmed."""
    alert_id = make_alert()
    admin = env.client(Role.admin)
    otp = _reset_operator(env)
    op = _login(env, otp)
    _change(op, otp)
    first, second = (admin, op) if admin_first else (op, admin)
    assert _review(first, alert_id).status_code == 200
    r = _review(second, alert_id)
    assert r.status_code == 409
    assert "admin issued credentials to operator" in r.json()["message"]
    assert "user.password_reset" in r.json()["message"]
    assert _status(env, alert_id) == "pending_second"
    # A different reviewer still completes it; and the operator is fine for later alerts.
    assert _review(env.client(Role.supervisor), alert_id).json()["status"] == "confirmed"
    later = make_alert()
    assert _review(admin, later).status_code == 200
    assert _review(op, later).json()["status"] == "confirmed"


def test_reviews_are_audited_with_the_credential(env: Any, make_alert: Callable[..., int]) -> None:
    alert_id = make_alert()
    sup = env.client(Role.supervisor)
    token = sup.post("/api/tokens", json={"name": "review-client"}).json()
    machine = TestClient(env.app, headers={"Authorization": f"Bearer {token['secret']}"})
    assert _review(env.client(Role.operator), alert_id).status_code == 200
    assert _review(machine, alert_id).json()["status"] == "confirmed"
    with env.context.db.read() as s:
        query = select(AuditEvent).where(AuditEvent.action == "alert.review")
        events = list(s.scalars(query.order_by(AuditEvent.id)).all())
    assert [e.actor for e in events] == ["operator", "supervisor"]
    assert events[0].details["credential"].startswith("session:")
    assert len(events[0].details["credential"]) == len("session:") + 16
    assert events[1].details["credential"] == f"token:{token['token']['id']}"


# -- the service on its own (any caller: CLI, scripts) ---------------------------------------
def _issue(env: Any, action: str, by: str, to: str, **details: object) -> None:
    with env.context.db.write() as s:
        audit.record(s, actor=by, action=action, target=to, details=details)


@pytest.mark.parametrize(
    ("issued", "error"),
    [
        (None, None),
        (("user.password_reset", "admin", "operator"), Conflict),
        (("user.password_reset", "operator", "admin"), Conflict),
        (("user.create", "admin", "operator"), Conflict),
        (("token.create", "admin", "operator"), Conflict),
        (("user.password_reset", "supervisor", "operator"), None),  # not the first confirmer
        (("user.update", "admin", "operator"), None),  # no credential issued
    ],
)
def test_independence_table(
    env: Any,
    make_alert: Callable[..., int],
    issued: tuple[str, str, str] | None,
    error: type[Exception] | None,
) -> None:
    reviews = env.state.reviews
    alert_id = make_alert()
    reviews.review(alert_id, "admin", "confirm")
    if issued is not None:
        _issue(env, *issued)
    if error is None:
        assert reviews.review(alert_id, "operator", "confirm").status is AlertStatus.confirmed
    else:
        with pytest.raises(error, match="not independent"):
            reviews.review(alert_id, "operator", "confirm")


def test_the_service_refuses_a_one_time_password_user(
    env: Any, make_alert: Callable[..., int]
) -> None:
    _reset_operator(env)
    alert_id = make_alert()
    with pytest.raises(PermissionDenied, match="one-time password"):
        env.state.reviews.review(alert_id, "operator", "reject", "not him")


def test_a_legacy_token_minted_by_someone_else_cannot_review(
    env: Any, make_alert: Callable[..., int]
) -> None:
    """Tokens an admin minted for others before the fix: they authenticate, never review."""
    secret = generate_api_token()
    with env.context.db.write() as s:
        op_id = next(u.id for u in env.state.users.list() if u.username == "operator")
        row = ApiToken(user_id=op_id, name="legacy", token_hash=hash_api_token(secret))
        s.add(row)
        s.flush()
        audit.record(
            s, actor="admin", action="token.create", target="operator", details={"token_id": row.id}
        )
    machine = TestClient(env.app, headers={"Authorization": f"Bearer {secret}"})
    r = _review(machine, make_alert())
    assert r.status_code == 403 and "created by admin, not by operator" in r.json()["message"]
