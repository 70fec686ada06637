"""Confirmed alerts to outside systems: signed webhooks to a real local HTTP server, and MQTT."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from vigil.config import AlertsOutConfig
from vigil.db.models import AuditEvent
from vigil.domain.enums import AlertStatus, Purpose, Role
from vigil.domain.events import AlertPublic, ReviewPublic
from vigil.errors import ConfigError
from vigil.services.outbound import SIGNATURE_HEADER, OutboundDispatcher, RetryPolicy, sign_body

SECRET = "webhook-secret-for-tests-0123456789abcdef"
FAST = RetryPolicy(
    attempts=4, initial_seconds=0.01, factor=2.0, max_seconds=0.1, timeout_seconds=5.0
)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that checks signatures; answers from ``script`` in turn."""

    script: list[int] = field(default_factory=lambda: [200])
    received: list[tuple[bytes, str, bool]] = field(
        default_factory=list
    )  # body, signature header, valid
    url: str = ""
    done: threading.Event = field(default_factory=threading.Event)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sig = self.headers.get(SIGNATURE_HEADER, "")
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            rec.received.append((body, sig, hmac.compare_digest(sig, expected)))
            status = rec.script[min(len(rec.received), len(rec.script)) - 1]
            self.send_response(status)
            self.end_headers()
            if status < 300:
                rec.done.set()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_port}/hooks/vigil?token=abc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def _alert(alert_id: int = 7) -> AlertPublic:
    t = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    return AlertPublic(
        id=alert_id,
        camera="gate-1",
        subject_id=3,
        subject_name="Jane Roe",
        watchlist="missing",
        authorization_reference="ORDER-1",
        purpose=Purpose.missing_person,
        score=0.71,
        threshold=0.5,
        pack="onnx",
        status=AlertStatus.confirmed,
        first_seen=t,
        last_seen=t,
        created_at=t,
        decided_at=t,
        has_crop=True,
        reviews=(
            ReviewPublic(username="alice", decision="confirm", created_at=t),
            ReviewPublic(username="bob", decision="confirm", created_at=t),
        ),
        confirmations=2,
    )


def _config(**kw: Any) -> AlertsOutConfig:
    return AlertsOutConfig(**kw)


def test_webhook_is_signed_and_retried_after_a_500(receiver: Receiver, db: Any) -> None:
    receiver.script = [500, 200]
    out = OutboundDispatcher(
        _config(webhooks=[receiver.url], webhook_secret=SECRET), db, retry=FAST
    )
    assert out.dispatch(_alert()) == 1
    assert out.wait_idle(30)
    out.stop()
    assert len(receiver.received) == 2
    body, signature, valid = receiver.received[-1]
    assert valid and signature == sign_body(SECRET, body)
    assert receiver.received[0][0] == body  # the retry sends the same signed body
    payload = json.loads(body)
    assert payload["event"] == "alert.confirmed" and payload["alert_id"] == 7
    assert payload["confirmed_by"] == ["alice", "bob"]
    assert not {"crop", "photo", "embedding", "vector"} & set(payload)
    with db.read() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("alert.outbound%"))
        ).all()
    assert [(e.action, e.details["attempts"]) for e in events] == [("alert.outbound", 2)]
    assert "token=abc" not in json.dumps(events[0].details)  # the URL's secret query is not audited


def test_webhook_gives_up_after_the_attempts_and_audits_it(receiver: Receiver, db: Any) -> None:
    receiver.script = [503]
    out = OutboundDispatcher(
        _config(webhooks=[receiver.url], webhook_secret=SECRET), db, retry=FAST
    )
    out.dispatch(_alert())
    assert out.wait_idle(30)
    out.stop()
    assert len(receiver.received) == FAST.attempts
    with db.read() as s:
        failed = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "alert.outbound_failed")
        ).all()
    assert len(failed) == 1 and failed[0].details["error"] == "HTTP 503"


def test_webhook_4xx_is_not_retried(receiver: Receiver) -> None:
    receiver.script = [401]
    out = OutboundDispatcher(_config(webhooks=[receiver.url], webhook_secret=SECRET), retry=FAST)
    out.dispatch(_alert())
    assert out.wait_idle(30)
    out.stop()
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"webhooks": ["http://127.0.0.1:9/x"]}, "webhook_secret"),
        ({"webhooks": ["ftp://example.org/x"], "webhook_secret": SECRET}, "not an http"),
        ({"webhooks": ["just-a-name"], "webhook_secret": SECRET}, "not an http"),
    ],
)
def test_bad_outbound_config_is_refused(config: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        OutboundDispatcher(_config(**config))


def test_unreachable_webhook_is_retried_then_reported(db: Any) -> None:
    out = OutboundDispatcher(
        _config(webhooks=["http://127.0.0.1:9/closed"], webhook_secret=SECRET), db, retry=FAST
    )
    out.dispatch(_alert())
    assert out.wait_idle(60)
    out.stop()
    with db.read() as s:
        failed = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "alert.outbound_failed")
        ).all()
    assert len(failed) == 1 and "request failed" in failed[0].details["error"]


def test_mqtt_publish_at_the_paho_seam_with_retry() -> None:
    calls: list[tuple[str, bytes, str, int]] = []

    def publish(topic: str, payload: bytes, host: str, port: int) -> None:
        calls.append((topic, payload, host, port))
        if len(calls) == 1:
            raise ConnectionRefusedError("broker restarting")

    out = OutboundDispatcher(
        _config(mqtt_host="broker.local", mqtt_port=1884), retry=FAST, mqtt_publish=publish
    )
    assert out.dispatch(_alert(9)) == 1
    assert out.wait_idle(30)
    out.stop()
    assert len(calls) == 2
    topic, payload, host, port = calls[-1]
    assert (topic, host, port) == ("vigil/alerts/confirmed", "broker.local", 1884)
    assert json.loads(payload)["alert_id"] == 9


def test_paho_publish_reports_an_unreachable_broker() -> None:
    from vigil.services.outbound import paho_publish

    with pytest.raises(OSError):
        paho_publish("t", b"{}", "127.0.0.1", 9)


def test_only_confirmed_alerts_reach_the_webhook(
    receiver: Receiver, env_factory: Callable[..., Any], alert_store: Callable[..., int]
) -> None:
    env = env_factory(alerts_out={"webhooks": [receiver.url], "webhook_secret": SECRET})
    env.state.outbound.retry = FAST
    alert_id = alert_store(env)
    op, sup = env.client(Role.operator), env.client(Role.supervisor)
    op.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm"})
    assert receiver.received == []  # one confirmation: nothing leaves
    sup.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm"})
    assert env.state.outbound.wait_idle(30)
    assert [json.loads(b)["alert_id"] for b, _sig, ok in receiver.received if ok] == [alert_id]


def _mosquitto() -> str | None:
    import shutil

    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@pytest.mark.skipif(_mosquitto() is None, reason="Debian's mosquitto broker is not installed")
def test_mqtt_publish_to_a_real_broker(tmp_path: Any) -> None:
    """paho-mqtt through a real mosquitto on 127.0.0.1; a paho subscriber receives the alert."""
    import socket
    import subprocess

    import paho.mqtt.client as mqtt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(
        [_mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    received: list[bytes] = []
    got = threading.Event()
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, *_a: c.subscribe("vigil/alerts/confirmed", qos=1)
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.on_message = lambda _c, _u, msg: (received.append(msg.payload), got.set())
    try:
        for _ in range(100):  # wait for the broker to listen
            try:
                sub.connect("127.0.0.1", port)
                break
            except OSError:
                threading.Event().wait(0.1)
        sub.loop_start()
        assert subscribed.wait(30)
        out = OutboundDispatcher(_config(mqtt_host="127.0.0.1", mqtt_port=port), retry=FAST)
        out.dispatch(_alert(11))
        assert out.wait_idle(30)
        out.stop()
        assert got.wait(30)
        assert json.loads(received[0])["alert_id"] == 11
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.terminate()
        broker.wait(10)
