"""Delivery of CONFIRMED alerts to outside systems: signed webhooks and MQTT, via an outbox.

Candidate alerts never leave the deployment: the review service calls :meth:`Outbox.enqueue`
inside the transaction that confirms an alert (second confirmation), so the confirmation and
its deliveries commit together or not at all (transactional outbox). The message carries no face
image or template (biometric data leaves only through an audited export).

:class:`OutboxDeliverer` (one per server process; several may run on one database) polls due
rows, claims them with one UPDATE that sets a lease only where no live lease exists, sends, and
marks them delivered or failed, or schedules the next try with :class:`vigil.retry.Backoff`.
A crash or ``kill -9`` loses nothing: an unfinished row is retried once its lease runs out.

* Webhooks: HTTP POST of a JSON body, signed with HMAC-SHA256 over the exact body bytes in the
  header ``X-Vigil-Signature: sha256=<hex>`` (key: ``alerts_out.webhook_secret``); the header
  ``X-Vigil-Delivery: <outbox row id>`` is the same on every try, so receivers can de-duplicate.
* MQTT: one QoS 1 publish of the same JSON to ``alerts_out.mqtt_topic`` (paho-mqtt).

Network errors, 5xx, 408 and 429 are retried; another 4xx is final. The outcome is audited as
``alert.outbound`` or ``alert.outbound_failed`` in the transaction that finishes the row.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.config import AlertsOutConfig
from vigil.db.models import OutboxMessage
from vigil.db.session import Database
from vigil.errors import ConfigError
from vigil.repositories.outbox import DELIVERED, FAILED, OutboxRepo
from vigil.retry import Backoff
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vigil-Signature"
DELIVERY_HEADER = "X-Vigil-Delivery"
RETRY_STATUSES = frozenset({408, 429})
MqttPublish = Callable[[str, bytes, str, int], None]  # (topic, payload, host, port)
Channel = Literal["webhook", "mqtt"]


def sign_body(secret: str, body: bytes) -> str:
    """The value of the X-Vigil-Signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: Mapping[str, object]) -> str:
    """The canonical JSON text that is stored, signed and sent."""
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), default=str)


def safe_destination(url: str) -> str:
    """A webhook URL without credentials or query (those may hold tokens): for logs and audit."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def paho_publish(topic: str, payload: bytes, host: str, port: int) -> None:
    """Publish once with QoS 1 through paho-mqtt; raises on connection or protocol errors."""
    import paho.mqtt.publish as publish

    publish.single(topic, payload=payload, qos=1, hostname=host, port=port, client_id="")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How the deliverer retries: tries per destination, the backoff between them, leases."""

    attempts: int = 6  # total tries per destination
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0, 2.0, jitter=0.1))
    timeout_seconds: float = 10.0  # per HTTP request or MQTT publish
    batch: int = 5  # rows claimed at once (sent one after the other)
    lease_seconds: float = 60.0  # a claimed row is free again after this (its holder died)
    poll_seconds: float = 1.0  # how often due rows are looked for (enqueue here wakes it early)
    keep_finished: timedelta = timedelta(days=1)  # delivered/failed rows then go (audit stays)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.batch < 1:
            raise ValueError(
                f"DeliveryPolicy: expected attempts >= 1 and batch >= 1, got {self.attempts} "
                f"and {self.batch}"
            )
        if self.lease_seconds <= self.timeout_seconds * self.batch:
            raise ValueError(
                f"DeliveryPolicy: lease_seconds ({self.lease_seconds}) must exceed "
                f"timeout_seconds x batch ({self.timeout_seconds} x {self.batch}), or a slow "
                "batch would lose its lease and another process would send it again"
            )


def _check_config(config: AlertsOutConfig) -> None:
    if config.webhooks and config.webhook_secret is None:
        raise ConfigError(
            "alerts_out.webhook_secret",
            "webhooks are configured but no signing secret is set",
            hint="set alerts_out.webhook_secret (32+ random characters) so receivers can "
            "verify alerts",
        )
    for url in config.webhooks:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ConfigError(
                "alerts_out.webhooks",
                f"{safe_destination(url)!r} is not an http(s) URL",
                hint="give full URLs such as https://soc.example/vigil-hook",
            )


class Outbox:
    """Writes deliveries of a confirmed alert, one row per destination, in the caller's
    transaction."""

    def __init__(self, config: AlertsOutConfig) -> None:
        _check_config(config)
        self.config = config
        self.ready = threading.Event()  # set after a commit that enqueued rows (wakes delivery)

    @property
    def enabled(self) -> bool:
        return bool(self.config.webhooks or self.config.mqtt_host)

    def destinations(self) -> list[tuple[Channel, str]]:
        found: list[tuple[Channel, str]] = [("webhook", url) for url in self.config.webhooks]
        if self.config.mqtt_host:
            found.append(("mqtt", self.config.mqtt_topic))
        return found

    def enqueue(self, session: Session, alert_id: int, payload: dict[str, object]) -> int:
        """Queue ``payload`` for every destination inside ``session``'s transaction."""
        body, now = encode_payload(payload), utcnow()
        rows = [
            OutboxMessage(
                alert_id=alert_id,
                channel=channel,
                destination=dest,
                body=body,
                status="pending",
                attempts=0,
                created_at=now,
                due_at=now,
            )
            for channel, dest in self.destinations()
        ]
        if rows:
            OutboxRepo(session).add_all(rows)
            event.listen(session, "after_commit", lambda _s: self.ready.set(), once=True)
        return len(rows)


@dataclass(frozen=True, slots=True)
class _Try:
    """One claimed row, copied out of the session."""

    id: int
    alert_id: int
    channel: Channel
    destination: str
    body: bytes
    attempt: int


@dataclass(frozen=True, slots=True)
class _Result:
    error: str | None = None  # None: delivered
    final: bool = False  # the receiver refused: do not retry


class OutboxDeliverer:
    """Delivers due outbox rows in the background (``start``/``stop``) or on call."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        policy: DeliveryPolicy | None = None,
        mqtt_publish: MqttPublish = paho_publish,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = outbox.config
        self.policy = policy or DeliveryPolicy()
        self.mqtt_publish = mqtt_publish
        self.owner = uuid.uuid4().hex  # this deliverer; a claim is f"{owner}:{n}"
        self._claims = itertools.count(1)
        self._loop = BackgroundLoop("vigil-outbox", self._run)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a background thread (also what earlier processes left undelivered)."""
        if not self._loop.running:
            self._loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.request_stop()
        self.outbox.ready.set()  # wake a loop waiting for new rows
        if self._loop.started:
            self._loop.stop(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no delivery is pending in the database (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.db.read() as s:
                if OutboxRepo(s).pending_count() == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _run(self) -> None:
        while not self._loop.stopping:
            try:
                delivered = self.deliver_due()
            except Exception:  # a bug or a database hiccup must not end delivery for good
                log.exception("outbox delivery failed; trying again")
                delivered = 0
            if delivered == 0:
                self.outbox.ready.wait(self.policy.poll_seconds)
                self.outbox.ready.clear()

    # -- one round --------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Claim the due rows (up to ``policy.batch``), try each once; returns how many."""
        now = utcnow()
        with self.db.read() as s:
            if not OutboxRepo(s).any_due(now):
                return 0
        claim = f"{self.owner}:{next(self._claims)}"
        lease_until = now + timedelta(seconds=self.policy.lease_seconds)
        with self.db.write() as s:
            repo = OutboxRepo(s)
            repo.delete_finished_before(now - self.policy.keep_finished)
            repo.claim(claim, now, lease_until, self.policy.batch)
            tries = [
                _Try(
                    r.id,
                    r.alert_id,
                    cast(Channel, r.channel),
                    r.destination,
                    r.body.encode(),
                    r.attempts,
                )
                for r in repo.claimed(claim)
            ]
        for item in tries:
            try:
                self._finish(item, claim, self._send(item))
            except Exception:  # one broken row must not stop the others
                log.exception("outbound delivery %s of alert %s crashed", item.id, item.alert_id)
        return len(tries)

    def _finish(self, item: _Try, claim: str, result: _Result) -> None:
        now = utcnow()
        with self.db.write() as s:
            repo = OutboxRepo(s)
            if result.error is None:
                if repo.finish(item.id, claim, DELIVERED, now, None):
                    self._audit(s, item, "alert.outbound", None)
                return
            if result.final or item.attempt >= self.policy.attempts:
                log.warning(
                    "giving up on %s %s for alert %s: %s",
                    item.channel,
                    self._label(item),
                    item.alert_id,
                    result.error,
                )
                if repo.finish(item.id, claim, FAILED, now, result.error):
                    self._audit(s, item, "alert.outbound_failed", result.error)
                return
            delay = self.policy.backoff.delay(item.attempt)
            log.info(
                "retrying %s %s for alert %s in %.1f s: %s",
                item.channel,
                self._label(item),
                item.alert_id,
                delay,
                result.error,
            )
            repo.reschedule(item.id, claim, now + timedelta(seconds=delay), result.error)

    def _send(self, item: _Try) -> _Result:
        """One try; an error text when it failed."""
        if item.channel == "mqtt":
            try:
                self.mqtt_publish(
                    item.destination, item.body, self.config.mqtt_host or "", self.config.mqtt_port
                )
            except Exception as exc:  # paho raises OSError and its own errors
                return _Result(f"MQTT publish failed: {exc}")
            return _Result()
        secret = self.config.webhook_secret.get_secret_value() if self.config.webhook_secret else ""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(secret, item.body),
            DELIVERY_HEADER: str(item.id),
            "User-Agent": "vigil-outbound/1",
        }
        try:
            response = httpx.post(
                item.destination,
                content=item.body,
                headers=headers,
                timeout=self.policy.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return _Result(f"request failed: {type(exc).__name__}: {exc}")
        if response.is_success:
            return _Result()
        if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
            return _Result(f"HTTP {response.status_code}")
        return _Result(f"HTTP {response.status_code} (not retried)", final=True)

    @staticmethod
    def _label(item: _Try) -> str:
        return safe_destination(item.destination) if item.channel == "webhook" else item.destination

    def _audit(self, s: Session, item: _Try, action: str, error: str | None) -> None:
        details: dict[str, object] = {
            "channel": item.channel,
            "destination": self._label(item),
            "attempts": item.attempt,
            "delivery": item.id,
        }
        if error:
            details["error"] = error
        audit.record(
            s, actor="system", action=action, target=f"alert:{item.alert_id}", details=details
        )
