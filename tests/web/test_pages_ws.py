"""The live alert WebSocket: who may listen, what is pushed, hand-off from another thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from starlette.websockets import WebSocketDisconnect

from vigil.domain.enums import Role
from vigil.services.alerts import AlertEvent


def _event(alert_id: int = 7, kind: str = "candidate") -> AlertEvent:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return AlertEvent(
        alert_id=alert_id,
        kind=kind,
        status="candidate",
        camera="gate",
        subject_name="Jane Roe",
        watchlist="missing",
        authorization_reference="ORDER-1",
        score=0.8123456,
        first_seen=t,
        last_seen=t,
        captured_monotonic=12.5,
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
    assert (first["alert_id"], first["kind"], second["kind"]) == (7, "candidate", "updated")
    assert first["subject_name"] == "Jane Roe"
    assert first["authorization_reference"] == "ORDER-1"
    assert first["score"] == pytest.approx(0.8123, abs=1e-4)
    assert first["first_seen"] == "2026-01-02T03:04:05+00:00"
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
    assert message["camera"] == "north-gate"
    assert message["kind"] == "candidate"


def test_feed_ends_when_the_user_logs_out(env) -> None:
    env.app.state.ws_session_check_seconds = 0.05
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
