"""The two-person review rule through the API, and what leaves the deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from vigil.db.models import AuditEvent
from vigil.domain.enums import Role
from vigil.domain.events import AlertEvent, outbound_payload


@pytest.fixture()
def sent(env: Any) -> list[AlertEvent]:
    """What outbound delivery receives: the confirmed events on the app's bus."""
    out: list[AlertEvent] = []
    env.bus.subscribe(lambda e: out.append(e) if e.kind == "confirmed" else None)
    return out


def _review(client: Any, alert_id: int, decision: str, reason: str = "") -> Any:
    return client.post(
        f"/api/alerts/{alert_id}/reviews", json={"decision": decision, "reason": reason}
    )


def test_two_different_users_must_confirm(
    env: Any, make_alert: Callable[..., int], sent: list
) -> None:
    alert_id = make_alert()
    a, b = env.client(Role.operator), env.client(Role.supervisor)
    assert a.get(f"/api/alerts/{alert_id}").json()["status"] == "candidate"

    first = _review(a, alert_id, "confirm")
    assert first.status_code == 200 and first.json()["status"] == "pending_second"
    assert sent == []

    again = _review(a, alert_id, "confirm")
    assert again.status_code == 409
    assert (
        "already confirmed" in again.json()["message"]
        and "different user" in again.json()["message"]
    )
    assert a.get(f"/api/alerts/{alert_id}").json()["status"] == "pending_second"

    second = _review(b, alert_id, "confirm")
    body = second.json()
    assert second.status_code == 200 and body["status"] == "confirmed"
    assert [r["username"] for r in body["reviews"]] == ["operator", "supervisor"]
    assert [s.alert_id for s in sent] == [alert_id]
    assert sent[0].alert is not None and sent[0].alert.confirmed_by == ("operator", "supervisor")
    payload = outbound_payload(sent[0].alert)
    assert payload["confirmed_by"] == ["operator", "supervisor"]
    assert payload["alert"] == body  # outbound, the API and the live feed share one shape
    assert "crop" not in payload["alert"] and body["subject_name"].startswith("Person")

    late = _review(env.client(Role.admin), alert_id, "reject", "too late")
    assert late.status_code == 409 and "already confirmed" in late.json()["message"]
    kinds = [(e.kind, e.alert.status) for e in env.events if e.alert and e.alert.id == alert_id]
    assert kinds == [
        ("candidate", "candidate"),
        ("reviewed", "pending_second"),
        ("confirmed", "confirmed"),
    ]


def test_rejection_marks_a_false_alert(
    env: Any, make_alert: Callable[..., int], sent: list
) -> None:
    alert_id = make_alert()
    op = env.client(Role.operator)
    assert _review(op, alert_id, "confirm").status_code == 200
    no_reason = _review(env.client(Role.supervisor), alert_id, "reject")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["message"]
    r = _review(env.client(Role.supervisor), alert_id, "reject", "different person: tattoo missing")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert sent == []
    assert [e.kind for e in env.events if e.alert_id == alert_id][-1] == "rejected"
    assert _review(op, alert_id, "confirm").status_code == 409
    listed = op.get("/api/alerts", params={"status": "rejected"}).json()
    assert [x["id"] for x in listed] == [alert_id]
    with env.context.db.read() as s:
        details = [
            e.details
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "alert.review"))
        ]
    assert [d["decision"] for d in details] == ["confirm", "reject"]
    assert details[-1]["reason"] == "different person: tattoo missing"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"decision": "maybe"}, 422, "decision"),
        ({"decision": "confirm", "extra": 1}, 422, "extra"),
        ({"decision": "reject", "reason": "   "}, 400, "needs a reason"),
        ({}, 422, "decision"),
    ],
)
def test_bad_review_requests(
    env: Any, make_alert: Callable[..., int], body: dict, status: int, fragment: str
) -> None:
    alert_id = make_alert()
    r = env.client(Role.operator).post(f"/api/alerts/{alert_id}/reviews", json=body)
    assert r.status_code == status
    assert fragment in r.json()["message"]


def test_review_of_unknown_alert_is_404(env: Any) -> None:
    r = _review(env.client(Role.operator), 424242, "confirm")
    assert r.status_code == 404 and "424242" in r.json()["message"]


def test_alert_images_are_decrypted_and_viewing_is_audited(
    env: Any, make_alert: Callable[..., int]
) -> None:
    alert_id = make_alert()
    op = env.client(Role.operator)
    crop = op.get(f"/api/alerts/{alert_id}/crop")
    photo = op.get(f"/api/alerts/{alert_id}/enrolled-photo")
    for r in (crop, photo):
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content[:2] == b"\xff\xd8" and r.headers["cache-control"] == "no-store"
    with env.context.db.read() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "biometric.view")).all()
    assert [(v.actor, v.details["what"]) for v in views] == [
        ("operator", "alert crop"),
        ("operator", "enrolled photo"),
    ]


def test_alert_list_filters_and_paging(env: Any, make_alert: Callable[..., int]) -> None:
    ids = [make_alert("cam1"), make_alert("cam2"), make_alert("cam1")]
    op = env.client(Role.operator)
    assert [a["id"] for a in op.get("/api/alerts").json()] == ids[::-1]
    assert [a["id"] for a in op.get("/api/alerts", params={"camera": "cam1"}).json()] == [
        ids[2],
        ids[0],
    ]
    assert [
        a["id"] for a in op.get("/api/alerts", params={"before_id": ids[2], "limit": 1}).json()
    ] == [ids[1]]
    assert op.get("/api/alerts", params={"status": "bogus"}).status_code == 422
    assert op.get("/api/alerts", params={"limit": 0}).status_code == 422


def test_the_badge_counts_alerts_awaiting_this_users_review(
    env: Any, make_alert: Callable[..., int]
) -> None:
    first, second = make_alert(), make_alert()
    op, sup = env.client(Role.operator), env.client(Role.supervisor)

    def awaiting(client: Any) -> int:
        r = client.get("/api/alerts/awaiting")
        assert r.status_code == 200, r.text
        return r.json()["count"]

    assert (awaiting(op), awaiting(sup)) == (2, 2)
    _review(op, first, "confirm")  # the operator is done with it; the supervisor is not
    assert (awaiting(op), awaiting(sup)) == (1, 2)
    _review(sup, first, "confirm")
    _review(sup, second, "reject", "not the person")
    assert (awaiting(op), awaiting(sup)) == (0, 0)
    assert env.client(Role.auditor).get("/api/alerts/awaiting").status_code == 403
