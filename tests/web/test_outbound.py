"""Confirmed alerts to outside systems through the outbox: signed webhooks to a real local HTTP
server, MQTT, and the outbox's claim, lease and backoff rules on a real SQLite database."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from alert_rows import add_alert_row
from vigil.config import AlertsOutConfig
from vigil.db.models import Alert, AuditEvent, OutboxMessage
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose, Role
from vigil.domain.events import AlertPublic, ReviewPublic, outbound_payload
from vigil.errors import ConfigError, StorageError
from vigil.retry import Backoff
from vigil.services.outbound import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    DeliveryPolicy,
    Outbox,
    OutboxDeliverer,
    sign_body,
)
from vigil.timeutil import utcnow

SECRET = "webhook-secret-for-tests-0123456789abcdef"
FAST = DeliveryPolicy(
    attempts=4,
    backoff=Backoff(0.01, 0.1, 2.0),
    timeout_seconds=5.0,
    lease_seconds=30.0,
    poll_seconds=0.02,
)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that checks signatures; answers from ``script`` in turn."""

    script: list[int] = field(default_factory=lambda: [200])
    received: list[tuple[bytes, str, bool]] = field(
        default_factory=list
    )  # body, signature header, valid
    deliveries: list[str] = field(default_factory=list)  # X-Vigil-Delivery of each request
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
            rec.deliveries.append(self.headers.get(DELIVERY_HEADER, ""))
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
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
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


def _alert_row(db: Database) -> int:
    """A confirmed alert row (with its authorization, watchlist, subject): the outbox's parent."""
    return add_alert_row(db, AlertStatus.confirmed, score=0.71)


def _enqueue(db: Database, outbox: Outbox) -> int:
    """Enqueue a confirmed alert for every destination; returns the alert id."""
    alert_id = _alert_row(db)
    with db.write() as s:
        outbox.enqueue(s, alert_id, outbound_payload(_alert(alert_id)))
    return alert_id


def _deliver_all(deliverer: OutboxDeliverer, timeout: float = 30) -> None:
    deliverer.start()
    try:
        assert deliverer.wait_idle(timeout)
    finally:
        deliverer.stop()


def _audited(db: Database, action: str) -> list[AuditEvent]:
    with db.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action.like(action))).all())


def _rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def test_webhook_is_signed_and_retried_after_a_500(receiver: Receiver, db: Database) -> None:
    receiver.script = [500, 200]
    outbox = Outbox(_config(webhooks=[receiver.url], webhook_secret=SECRET))
    alert_id = _enqueue(db, outbox)
    _deliver_all(OutboxDeliverer(db, outbox, policy=FAST))
    assert len(receiver.received) == 2
    body, signature, valid = receiver.received[-1]
    assert valid and signature == sign_body(SECRET, body)
    assert receiver.received[0][0] == body  # the retry sends the same signed body
    (row,) = _rows(db)
    assert receiver.deliveries == [str(row.id), str(row.id)]  # a stable id to de-duplicate
    assert (row.status, row.attempts) == ("delivered", 2)
    payload = json.loads(body)
    assert payload["event"] == "alert.confirmed" and payload["alert_id"] == alert_id
    assert payload["confirmed_by"] == ["alice", "bob"]
    assert not {"crop", "photo", "embedding", "vector"} & set(payload)
    events = _audited(db, "alert.outbound%")
    assert [(e.action, e.details["attempts"]) for e in events] == [("alert.outbound", 2)]
    assert "token=abc" not in json.dumps(events[0].details)  # the URL's secret query is not audited


def test_webhook_gives_up_after_the_attempts_and_audits_it(
    receiver: Receiver, db: Database
) -> None:
    receiver.script = [503]
    outbox = Outbox(_config(webhooks=[receiver.url], webhook_secret=SECRET))
    _enqueue(db, outbox)
    _deliver_all(OutboxDeliverer(db, outbox, policy=FAST))
    assert len(receiver.received) == FAST.attempts
    failed = _audited(db, "alert.outbound_failed")
    assert len(failed) == 1 and failed[0].details["error"] == "HTTP 503"
    assert [r.status for r in _rows(db)] == ["failed"]


@pytest.mark.parametrize(("status", "tries"), [(401, 1), (404, 1), (408, 2), (429, 2)])
def test_4xx_is_final_except_408_and_429(
    receiver: Receiver, db: Database, status: int, tries: int
) -> None:
    receiver.script = [status, 200]
    outbox = Outbox(_config(webhooks=[receiver.url], webhook_secret=SECRET))
    _enqueue(db, outbox)
    _deliver_all(OutboxDeliverer(db, outbox, policy=FAST))
    assert len(receiver.received) == tries


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
        Outbox(_config(**config))


def test_unreachable_webhook_is_retried_then_reported(db: Database) -> None:
    outbox = Outbox(_config(webhooks=["http://127.0.0.1:9/closed"], webhook_secret=SECRET))
    _enqueue(db, outbox)
    _deliver_all(OutboxDeliverer(db, outbox, policy=FAST), timeout=60)
    failed = _audited(db, "alert.outbound_failed")
    assert len(failed) == 1 and "request failed" in failed[0].details["error"]
    assert failed[0].details["attempts"] == FAST.attempts


def test_mqtt_publish_at_the_paho_seam_with_retry(db: Database) -> None:
    calls: list[tuple[str, bytes, str, int]] = []

    def publish(topic: str, payload: bytes, host: str, port: int) -> None:
        calls.append((topic, payload, host, port))
        if len(calls) == 1:
            raise ConnectionRefusedError("broker restarting")

    outbox = Outbox(_config(mqtt_host="broker.local", mqtt_port=1884))
    alert_id = _enqueue(db, outbox)
    _deliver_all(OutboxDeliverer(db, outbox, policy=FAST, mqtt_publish=publish))
    assert len(calls) == 2
    topic, payload, host, port = calls[-1]
    assert (topic, host, port) == ("vigil/alerts/confirmed", "broker.local", 1884)
    assert json.loads(payload)["alert_id"] == alert_id


def test_paho_publish_reports_an_unreachable_broker() -> None:
    from vigil.services.outbound import paho_publish

    with pytest.raises(OSError):
        paho_publish("t", b"{}", "127.0.0.1", 9)


# -- the outbox's own rules -------------------------------------------------------------------


def test_enqueue_writes_one_row_per_destination_in_the_callers_transaction(db: Database) -> None:
    outbox = Outbox(
        _config(
            webhooks=["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"],
            webhook_secret=SECRET,
            mqtt_host="broker.local",
        )
    )
    alert_id = _alert_row(db)
    with pytest.raises(StorageError), db.write() as s:  # the confirmation fails: nothing queued
        assert outbox.enqueue(s, alert_id, {"alert_id": alert_id}) == 3
        s.add(Alert(id=alert_id))  # duplicate primary key: the transaction rolls back
    assert _rows(db) == []
    with db.write() as s:
        assert outbox.enqueue(s, alert_id, {"alert_id": alert_id}) == 3
    rows = _rows(db)
    assert [(r.channel, r.status, r.attempts) for r in rows] == [
        ("webhook", "pending", 0),
        ("webhook", "pending", 0),
        ("mqtt", "pending", 0),
    ]
    assert Outbox(_config()).enqueue(None, alert_id, {}) == 0  # type: ignore[arg-type]


def test_a_leased_row_is_not_claimed_by_another_deliverer(db: Database) -> None:
    """Two processes = two deliverers on one database: a claim is exclusive until its lease
    runs out (its holder died), then the other takes the row over."""
    sent: list[str] = []
    outbox = Outbox(_config(mqtt_host="broker.local"))
    _enqueue(db, outbox)
    a = OutboxDeliverer(db, outbox, policy=FAST, mqtt_publish=lambda *_a: sent.append("a"))
    b = OutboxDeliverer(db, outbox, policy=FAST, mqtt_publish=lambda *_a: sent.append("b"))
    with db.write() as s:  # a claims the row, then "dies" before sending
        from vigil.repositories.outbox import OutboxRepo

        now = utcnow()
        assert OutboxRepo(s).claim("a-dead", now, now + timedelta(seconds=30), 10) == 1
    assert b.deliver_due() == 0 and sent == []
    with db.write() as s:  # the lease runs out
        s.execute(
            OutboxMessage.__table__.update().values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert b.deliver_due() == 1 and a.deliver_due() == 0
    assert sent == ["b"]
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.claimed_by) == ("delivered", 2, None)


def test_two_deliverers_running_at_once_send_each_row_once(db: Database) -> None:
    sent: list[int] = []

    def publish(_topic: str, body: bytes, *_a: object) -> None:
        sent.append(json.loads(body)["alert_id"])

    outbox = Outbox(_config(mqtt_host="broker.local"))
    ids = [_enqueue(db, outbox) for _ in range(12)]
    pair = [OutboxDeliverer(db, outbox, policy=FAST, mqtt_publish=publish) for _ in range(2)]
    for deliverer in pair:
        deliverer.start()
    try:
        assert pair[0].wait_idle(30)
    finally:
        for deliverer in pair:
            deliverer.stop()
    assert sorted(sent) == sorted(ids)


def test_a_failed_try_is_rescheduled_with_the_backoff(db: Database) -> None:
    policy = DeliveryPolicy(attempts=5, backoff=Backoff(30.0, 600.0, 2.0))

    def refuse(*_a: object) -> None:
        raise ConnectionRefusedError("down")

    outbox = Outbox(_config(mqtt_host="broker.local"))
    _enqueue(db, outbox)
    deliverer = OutboxDeliverer(db, outbox, policy=policy, mqtt_publish=refuse)
    before = utcnow()
    assert deliverer.deliver_due() == 1
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None)
    assert row.last_error == "MQTT publish failed: down"
    wait = (row.due_at - before).total_seconds()
    assert policy.backoff.delay(1) <= wait < policy.backoff.delay(1) + 5
    assert deliverer.deliver_due() == 0  # not due yet
    assert not deliverer.wait_idle(0.1)


def test_finished_rows_are_pruned_after_the_keep_period(db: Database) -> None:
    policy = DeliveryPolicy(keep_finished=timedelta(0))
    outbox = Outbox(_config(mqtt_host="broker.local"))
    _enqueue(db, outbox)
    deliverer = OutboxDeliverer(db, outbox, policy=policy, mqtt_publish=lambda *_a: None)
    assert deliverer.deliver_due() == 1 and [r.status for r in _rows(db)] == ["delivered"]
    _enqueue(db, outbox)
    assert deliverer.deliver_due() == 1  # this round prunes the first, finished row
    assert [r.status for r in _rows(db)] == ["delivered"] and len(
        _audited(db, "alert.outbound")
    ) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts"),
        ({"batch": 0}, "batch"),
        ({"lease_seconds": 30.0, "timeout_seconds": 10.0, "batch": 3}, "lease_seconds"),
    ],
)
def test_bad_delivery_policy_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeliveryPolicy(**kwargs)


def test_only_confirmed_alerts_reach_the_webhook(
    receiver: Receiver, env_factory: Callable[..., Any], alert_store: Callable[..., int]
) -> None:
    env = env_factory(alerts_out={"webhooks": [receiver.url], "webhook_secret": SECRET})
    env.state.outbound.policy = FAST
    env.state.outbound.start()  # the app's lifespan does this under a server
    alert_id = alert_store(env)
    op, sup = env.client(Role.operator), env.client(Role.supervisor)
    op.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm"})
    assert env.state.outbound.wait_idle(5)
    assert receiver.received == []  # one confirmation: nothing leaves
    sup.post(f"/api/alerts/{alert_id}/reviews", json={"decision": "confirm"})
    assert env.state.outbound.wait_idle(30)
    assert [json.loads(b)["alert_id"] for b, _sig, ok in receiver.received if ok] == [alert_id]


def _mosquitto() -> str | None:
    import shutil

    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@pytest.mark.skipif(_mosquitto() is None, reason="Debian's mosquitto broker is not installed")
def test_mqtt_publish_to_a_real_broker(tmp_path: Any, db: Database) -> None:
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
        outbox = Outbox(_config(mqtt_host="127.0.0.1", mqtt_port=port))
        alert_id = _enqueue(db, outbox)
        _deliver_all(OutboxDeliverer(db, outbox, policy=FAST))
        assert got.wait(30)
        assert json.loads(received[0])["alert_id"] == alert_id
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.terminate()
        broker.wait(10)
