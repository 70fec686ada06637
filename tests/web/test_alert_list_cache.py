"""GET /api/alerts served from the page cache: never stale after a review or a purge, never one
role's page for another, same JSON as the alerts' public shape, ETag and 304."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.domain.enums import Role
from vigil.services.alerts import AlertQueries


def _ids(client: Any, **params: Any) -> list[int]:
    r = client.get("/api/alerts", params=params)
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()]


def _status(client: Any, alert_id: int, **params: Any) -> str:
    listed = {a["id"]: a for a in client.get("/api/alerts", params=params).json()}
    return listed[alert_id]["status"]


def test_a_review_shows_in_the_very_next_list(env: Any, make_alert: Callable[..., int]) -> None:
    alert_id = make_alert()
    op, sup = env.client(Role.operator), env.client(Role.supervisor)
    assert _status(op, alert_id) == "candidate"
    assert _status(op, alert_id) == "candidate"  # now served from the cache
    assert env.state.alerts.pages.hits >= 1

    r = op.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm", "reason": ""})
    assert r.status_code == 200
    assert _status(op, alert_id) == "pending_second"
    assert _ids(op, status="candidate") == []
    assert _ids(op, status="pending_second") == [alert_id]

    r = sup.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm", "reason": ""})
    assert r.status_code == 200
    assert _status(op, alert_id) == "confirmed"
    page = op.get("/api/alerts").json()[0]
    assert [v["username"] for v in page["reviews"]] == ["operator", "supervisor"]
    assert page["confirmations"] == 2


def test_a_purge_removes_the_alert_from_the_next_list(
    env: Any, make_alert: Callable[..., int]
) -> None:
    kept, purged = make_alert(), make_alert()
    sup = env.client(Role.supervisor)
    assert _ids(sup) == [purged, kept]
    assert _ids(sup, limit=1, before_id=purged) == [kept]
    assert _ids(sup) == [purged, kept]  # cached
    reference = sup.get(f"/api/alerts/{purged}").json()["authorization_reference"]
    auth_id = next(
        a["id"] for a in sup.get("/api/authorizations").json() if a["reference"] == reference
    )
    assert sup.post(f"/api/authorizations/{auth_id}/revoke").status_code == 200
    assert _ids(sup) == [kept]
    assert _ids(sup, limit=1, before_id=purged) == [kept]  # a page below it was not touched
    assert sup.get(f"/api/alerts/{purged}").status_code == 404


def test_a_new_candidate_shows_in_the_next_list(env: Any, make_alert: Callable[..., int]) -> None:
    first = make_alert()
    op = env.client(Role.operator)
    assert _ids(op) == [first]
    second = make_alert()
    assert _ids(op) == [second, first]


def test_each_role_gets_its_own_page(env: Any, make_alert: Callable[..., int]) -> None:
    make_alert()
    for role in (Role.operator, Role.supervisor, Role.admin):
        assert len(_ids(env.client(role))) == 1
    keys = list(env.state.alerts.pages._entries)
    assert sorted(k.role for k in keys) == ["admin", "operator", "supervisor"]


def test_roles_that_may_not_list_still_cannot(env: Any, make_alert: Callable[..., int]) -> None:
    make_alert()
    assert len(_ids(env.client(Role.operator))) == 1  # a cached page exists
    assert env.client(Role.auditor).get("/api/alerts").status_code == 403
    assert env.client().get("/api/alerts").status_code == 401


def test_the_list_is_the_public_shape_of_each_alert(
    env: Any, make_alert: Callable[..., int]
) -> None:
    ids = [make_alert(camera=c) for c in ("cam1", "cam2", "cam1")]
    op = env.token_client(Role.operator)
    uncached = AlertQueries(env.context.db, env.context.cipher)
    for params in ({}, {"camera": "cam1"}, {"limit": 1, "before_id": ids[2]}):
        r = op.get("/api/alerts", params=params)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.headers["cache-control"] == "no-store"
        expected = uncached.list(
            camera=params.get("camera"),
            limit=params.get("limit", 50),
            before_id=params.get("before_id"),
        )
        assert expected and r.json() == [a.model_dump(mode="json") for a in expected]


def test_an_unchanged_page_answers_304(env: Any, make_alert: Callable[..., int]) -> None:
    alert_id = make_alert()
    op = env.client(Role.operator)
    first = op.get("/api/alerts")
    etag = first.headers["etag"]
    same = op.get("/api/alerts", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    other = op.get("/api/alerts", params={"status": "rejected"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.json() == []  # another page, another tag
    op.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm", "reason": ""})
    changed = op.get("/api/alerts", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()[0]["status"] == "pending_second"
