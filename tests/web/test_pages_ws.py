"""The live alert WebSocket: who may listen, what is pushed, hand-off from another thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from starlette.websockets import WebSocketDisconnect

from vigil.domain.enums import AlertStatus, Purpose, Role
from vigil.domain.events import AlertEvent, AlertPublic

AT = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)


def _event(alert_id: int = 7, kind: str = "candidate") -> AlertEvent:
    return AlertEvent.of(kind, _alert(alert_id), AT, captured_monotonic=12.5)


def _alert(alert_id: int) -> AlertPublic:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return AlertPublic(
        id=alert_id,
        camera="gate",
        subject_id=3,
        subject_name="Jane Roe",
        watchlist="missing",
        authorization_reference="ORDER-1",
        purpose=Purpose.missing_person,
        score=0.8123456,
        threshold=0.5,
        pack="dlib",
        status=AlertStatus.candidate,
        first_seen=t,
        last_seen=t,
        created_at=t,
        has_crop=True,
    )


def _subscribers(env) -> int:
    return len(env.bus._subscribers)


def _publish_from_thread(env, event: AlertEvent) -> None:
    """Publish like the pipeline does: from a thread that is not the server's event loop."""
    thread = threading.Thread(target=env.bus.publish, args=(event,))
    thread.start()
    thread.join()


@pytest.mark.parametrize("role", [Role.operator, Role.supervisor, Role.admin])
def test_reviewers_receive_alerts_pushed_from_the_pipeline_thread(env, role: Role) -> None:
    client = env.client(role)
    before = _subscribers(env)
    with client.websocket_connect("/ws/alerts") as ws:
        hello = ws.receive_json()
        assert hello == {"type": "status", "live": True, "user": role.value}
        assert _subscribers(env) == before + 1
        _publish_from_thread(env, _event(7))
        _publish_from_thread(env, _event(7, "updated"))
        first, second = ws.receive_json(), ws.receive_json()
    assert first["type"] == "alert"
    assert (first["alert_id"], first["event"], second["event"]) == (7, "candidate", "updated")
    assert first["alert"] == _alert(7).model_dump(mode="json")  # the API's shape
    assert first["alert"]["subject_name"] == "Jane Roe"
    assert first["alert"]["authorization_reference"] == "ORDER-1"
    assert first["alert"]["first_seen"] == "2026-01-02T03:04:05Z"
    assert first["at"] == AT.isoformat()
    assert first["captured_monotonic"] == 12.5
    assert isinstance(first["sent_monotonic"], float)


def test_unsubscribes_when_the_client_leaves(env) -> None:
    client = env.client(Role.operator)
    before = _subscribers(env)
    with client.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()
        ws.send_text("ping")
        assert ws.receive_json() == {"type": "pong"}
    for _ in range(200):  # the server notices the close asynchronously
        if _subscribers(env) == before:
            break
        threading.Event().wait(0.01)
    assert _subscribers(env) == before
    env.bus.publish(_event(8))  # nobody left to hand it to: must not raise


@pytest.mark.parametrize("role", [None, Role.auditor])
def test_anonymous_and_auditors_get_no_live_alerts(env, role: Role | None) -> None:
    client = env.client(role)
    before = _subscribers(env)
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()
    assert info.value.code in (4401, 4403)
    assert _subscribers(env) == before


def test_forged_session_cookie_is_refused(env) -> None:
    client = env.client()
    client.cookies.set("vigil_session", "forged.0000")
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()


def test_real_candidate_alert_reaches_the_socket(env, make_alert) -> None:
    """The pipeline's AlertStore publishes on the bus; the socket relays it."""
    client = env.client(Role.operator)
    with client.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(make_alert("north-gate")))
        thread.start()
        thread.join()
        message = ws.receive_json()
    assert message["alert_id"] == result[0]
    assert message["event"] == "candidate"
    assert message["alert"] == env.client(Role.operator).get(f"/api/alerts/{result[0]}").json()
    assert message["alert"]["camera"] == "north-gate"


def test_reviews_and_purges_reach_the_socket_in_the_public_shape(env, make_alert) -> None:
    """Whoever reviews (here a service call, not the API), the feed hears it once; a purge
    sends only the id."""
    alert_id = make_alert("gate")
    client = env.client(Role.operator)
    with client.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()
        env.state.reviews.review(alert_id, "someone", "confirm")
        reviewed = ws.receive_json()
        reference = reviewed["alert"]["authorization_reference"]
        auth_id = next(
            a["id"]
            for a in env.client(Role.admin).get("/api/authorizations").json()
            if a["reference"] == reference
        )
        assert (
            env.client(Role.admin).post(f"/api/authorizations/{auth_id}/revoke").status_code == 200
        )
        purged = ws.receive_json()
    assert (reviewed["event"], reviewed["alert"]["status"]) == ("reviewed", "pending_second")
    assert reviewed["alert"]["confirmations"] == 1
    assert reviewed["alert"]["reviews"][0]["username"] == "someone"
    assert (purged["event"], purged["alert_id"], purged["alert"]) == ("purged", alert_id, None)


def test_feed_ends_when_the_user_logs_out(env) -> None:
    env.state.ws_session_check_seconds = 0.05
    client = env.client(Role.operator)
    with client.websocket_connect("/ws/alerts") as ws:
        assert ws.receive_json()["live"] is True
        assert client.post("/api/auth/logout").status_code == 204
        assert ws.receive_json() == {"type": "status", "live": False, "message": "session ended"}
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [(None, True), ("http://testserver", True), ("https://evil.example", False)],
)
def test_cross_site_origins_are_refused(env, origin: str | None, accepted: bool) -> None:
    client = env.client(Role.operator)
    headers = {"origin": origin} if origin else {}
    if accepted:
        with client.websocket_connect("/ws/alerts", headers=headers) as ws:
            assert ws.receive_json()["live"] is True
    else:
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/ws/alerts", headers=headers) as ws,
        ):
            ws.receive_json()
