"""Issue 13, Low: an expired authorization blocks review (and so dispatch) and reads "expired"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from vigil.db.models import Alert, Authorization, OutboxMessage
from vigil.domain.enums import AuthorizationStatus, Role
from vigil.services.authorizations import public_status
from vigil.timeutil import utcnow

NOW = utcnow()


def _expire(env: Any, alert_id: int) -> int:
    with env.context.db.write() as s:
        auth_id = s.scalar(select(Alert.authorization_id).where(Alert.id == alert_id))
        s.execute(
            update(Authorization)
            .where(Authorization.id == auth_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        return int(auth_id)


def _review(client: Any, alert_id: int) -> Any:
    return client.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm"})


def test_an_expired_authorization_blocks_confirmation_and_dispatch(
    env: Any, make_alert: Callable[..., int]
) -> None:
    alert_id = make_alert()
    a, b = env.client(Role.operator), env.client(Role.supervisor)
    assert _review(a, alert_id).status_code == 200  # first confirmation while in force
    auth_id = _expire(env, alert_id)
    second = _review(b, alert_id)
    assert second.status_code == 409 and "expired" in second.json()["message"]
    assert b.get(f"/api/alerts/{alert_id}").json()["status"] == "pending_second"
    with env.context.db.read() as s:
        assert s.scalars(select(OutboxMessage)).all() == []
    listed = {x["id"]: x["status"] for x in b.get("/api/authorizations").json()}
    assert listed[auth_id] == "expired"
    assert b.get(f"/api/authorizations/{auth_id}").json()["status"] == "expired"


@pytest.mark.parametrize(
    ("status", "expires_in", "expected"),
    [
        (AuthorizationStatus.active, timedelta(days=1), "active"),
        (AuthorizationStatus.active, timedelta(seconds=-1), "expired"),
        (AuthorizationStatus.revoked, timedelta(seconds=-1), "revoked"),
        (AuthorizationStatus.refused, timedelta(days=1), "refused"),
    ],
)
def test_public_status_table(
    status: AuthorizationStatus, expires_in: timedelta, expected: str
) -> None:
    assert public_status(status, NOW + expires_in, NOW) == expected
