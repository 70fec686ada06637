"""Delivery of CONFIRMED alerts to outside systems: signed webhooks and MQTT.

Candidate alerts never leave the deployment; :class:`OutboundDispatcher` is only fed by the
review service once two different people have confirmed an alert. The message carries no face
image or template (biometric data leaves only through an audited export).

* Webhooks: HTTP POST of a JSON body, signed with HMAC-SHA256 over the exact body bytes in the
  header ``X-Vigil-Signature: sha256=<hex>`` (key: ``alerts_out.webhook_secret``). Receivers
  recompute it with :func:`sign_body` and compare in constant time.
* MQTT: one QoS 1 publish of the same JSON to ``alerts_out.mqtt_topic`` (paho-mqtt).

Deliveries run on one background thread and are retried with exponential backoff on network
errors, 5xx, 408 and 429 (``RetryPolicy``); the outcome is audited as ``alert.outbound`` or
``alert.outbound_failed``. ``dispatch`` never blocks the caller.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx

from vigil.accountability import audit
from vigil.config import AlertsOutConfig
from vigil.db.session import Database
from vigil.domain.events import AlertPublic, outbound_payload
from vigil.errors import ConfigError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vigil-Signature"
RETRY_STATUSES = frozenset({408, 429})
MqttPublish = Callable[[str, bytes, str, int], None]  # (topic, payload, host, port)


def sign_body(secret: str, body: bytes) -> str:
    """The value of the X-Vigil-Signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_alert(alert: AlertPublic) -> bytes:
    return json.dumps(outbound_payload(alert), sort_keys=True, separators=(",", ":")).encode()


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
class RetryPolicy:
    attempts: int = 6  # total tries per destination
    initial_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 60.0
    timeout_seconds: float = 10.0  # per HTTP request

    def delay(self, attempt: int) -> float:
        """Wait before try number ``attempt + 1`` (attempt counts from 1)."""
        return min(self.max_seconds, self.initial_seconds * self.factor ** (attempt - 1))


@dataclass(order=True, slots=True)
class _Job:
    due: float
    seq: int
    channel: Literal["webhook", "mqtt"] = field(compare=False)
    destination: str = field(compare=False)
    alert_id: int = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=1, compare=False)
    final: bool = field(default=False, compare=False)  # the receiver refused: do not retry


class OutboundDispatcher:
    """Queues confirmed alerts for every destination and delivers them in the background."""

    def __init__(
        self,
        config: AlertsOutConfig,
        db: Database | None = None,
        *,
        retry: RetryPolicy | None = None,
        mqtt_publish: MqttPublish = paho_publish,
    ) -> None:
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
        self.config = config
        self.db = db
        self.retry = retry or RetryPolicy()
        self.mqtt_publish = mqtt_publish
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = 0

    @property
    def enabled(self) -> bool:
        return bool(self.config.webhooks or self.config.mqtt_host)

    def dispatch(self, alert: AlertPublic) -> int:
        """Queue ``alert`` for every destination; returns how many deliveries were queued."""
        body = encode_alert(alert)
        jobs: list[tuple[Literal["webhook", "mqtt"], str]] = [
            ("webhook", u) for u in self.config.webhooks
        ]
        if self.config.mqtt_host:
            jobs.append(("mqtt", self.config.mqtt_topic))
        with self._cond:
            for channel, destination in jobs:
                heapq.heappush(
                    self._heap,
                    _Job(
                        time.monotonic(),
                        next(self._seq),
                        channel,
                        destination,
                        alert.id,
                        body,
                    ),
                )
            self._cond.notify_all()
        if jobs:
            self._ensure_thread()
        return len(jobs)

    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="vigil-outbound", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (for shutdown and tests); True if idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                if self._heap and self._heap[0].due <= time.monotonic():
                    self._busy += 1
                    return heapq.heappop(self._heap)
                wait = (self._heap[0].due - time.monotonic()) if self._heap else None
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._attempt(job)
            except Exception:  # a bug here must not kill delivery of later alerts
                log.exception("outbound delivery of alert %s crashed", job.alert_id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, job: _Job) -> None:
        error = self._send(job)
        if error is None:
            self._audit(job, "alert.outbound", None)
            return
        if job.final or job.attempt >= self.retry.attempts:
            log.warning(
                "giving up on %s %s for alert %s: %s",
                job.channel,
                self._label(job),
                job.alert_id,
                error,
            )
            self._audit(job, "alert.outbound_failed", error)
            return
        log.info(
            "retrying %s %s for alert %s: %s", job.channel, self._label(job), job.alert_id, error
        )
        job.due = time.monotonic() + self.retry.delay(job.attempt)
        job.attempt += 1
        with self._cond:
            heapq.heappush(self._heap, job)
            self._cond.notify_all()

    def _send(self, job: _Job) -> str | None:
        """One try; returns None on success or what went wrong (retryable)."""
        if job.channel == "mqtt":
            try:
                self.mqtt_publish(
                    job.destination, job.body, self.config.mqtt_host or "", self.config.mqtt_port
                )
            except Exception as exc:  # paho raises OSError and its own errors
                return f"MQTT publish failed: {exc}"
            return None
        secret = self.config.webhook_secret.get_secret_value() if self.config.webhook_secret else ""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(secret, job.body),
            "User-Agent": "vigil-outbound/1",
        }
        try:
            response = httpx.post(
                job.destination,
                content=job.body,
                headers=headers,
                timeout=self.retry.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return f"request failed: {type(exc).__name__}: {exc}"
        if response.is_success:
            return None
        if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
            return f"HTTP {response.status_code}"
        job.final = True  # 4xx: the receiver refuses; retrying will not help
        return f"HTTP {response.status_code} (not retried)"

    def _label(self, job: _Job) -> str:
        return safe_destination(job.destination) if job.channel == "webhook" else job.destination

    def _audit(self, job: _Job, action: str, error: str | None) -> None:
        if self.db is None:
            return
        details: dict[str, object] = {
            "channel": job.channel,
            "destination": self._label(job),
            "attempts": job.attempt,
        }
        if error:
            details["error"] = error
        try:
            with self.db.write() as s:
                audit.record(
                    s,
                    actor="system",
                    action=action,
                    target=f"alert:{job.alert_id}",
                    details=details,
                )
        except Exception:
            log.exception("could not audit outbound delivery of alert %s", job.alert_id)
