"""Alert events across command-center processes: PostgreSQL LISTEN/NOTIFY.

Several ``vigil serve`` processes (on one or several machines) share one PostgreSQL database.
Each one's :class:`~vigil.services.alerts.AlertBus` delivers its own events to its subscribers
at once, and :class:`PgAlertRelay` carries them to the other processes:

* ``send``: after the change committed (AlertBus publishes only then), ``pg_notify`` on the
  channel :data:`CHANNEL` with a small JSON payload (:class:`RelayedAlert`: origin process, alert
  id, kind, time); no personal data travels in the notification.
* a listener thread per process (``LISTEN`` on its own connection) receives the others'
  notifications, skips its own (the raising process already delivered the event locally: no
  duplicate to its WebSocket clients), loads the alert's public shape from the database and
  hands the event to the bus's local subscribers (:meth:`AlertBus.deliver`). A ``purged`` event
  carries only the id. An alert deleted meanwhile is skipped.

A lost listener connection is reopened with :class:`vigil.retry.Backoff`; notifications sent
while it was down are not replayed (the dashboard reloads its list on reconnect).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from vigil.db.session import Database
from vigil.domain.events import AlertEvent, AlertKind
from vigil.errors import NotFound
from vigil.repositories.alerts import AlertRepo
from vigil.retry import Backoff
from vigil.threads import BackgroundLoop

if TYPE_CHECKING:
    from vigil.services.alerts import AlertBus

log = logging.getLogger(__name__)

CHANNEL = "vigil_alerts"
POLL_SECONDS = 0.5  # how often the listener checks for a stop request


class RelayedAlert(BaseModel):
    """The NOTIFY payload: which process raised which change of which alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str
    alert_id: int
    kind: AlertKind
    at: datetime


def psycopg_dsn(url: str) -> str:
    """The libpq URI of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgAlertRelay:
    """Sends this process's alert events to the others and delivers theirs to ``bus``."""

    def __init__(self, db: Database, bus: AlertBus, *, backoff: Backoff | None = None) -> None:
        if not db.is_postgresql:
            raise ValueError("PgAlertRelay needs a PostgreSQL database")
        self.db = db
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self.backoff = backoff or Backoff(0.5, 30.0, 2.0, jitter=0.1)
        self.received = 0  # events delivered from other processes
        self._loop = BackgroundLoop("vigil-alert-relay", self._listen)
        self._listening = False

    def start(self) -> PgAlertRelay:
        self.bus.attach_relay(self)
        self._loop.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.bus.attach_relay(None)
        self._loop.stop(timeout)

    @property
    def listening(self) -> bool:
        """True once the listener's LISTEN is in place (events from others now arrive)."""
        return self._listening

    def send(self, event: AlertEvent) -> None:
        """Tell the other processes (called by AlertBus.publish, after the commit)."""
        payload = RelayedAlert(
            origin=self.origin, alert_id=event.alert_id, kind=event.kind, at=event.at
        ).model_dump_json()
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})

    def _listen(self) -> None:
        attempt = 0
        while not self._loop.stopping:
            try:
                self._listen_once()
                attempt = 0
            except Exception as exc:  # psycopg.Error and friends: reconnect after a pause
                self._listening = False
                attempt += 1
                delay = self.backoff.delay(attempt)
                log.warning("alert relay: listener lost (%s); reconnecting in %.1f s", exc, delay)
                self._loop.sleep(delay)

    def _listen_once(self) -> None:
        import psycopg

        with psycopg.connect(psycopg_dsn(self.db.url), autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._listening = True
            while not self._loop.stopping:
                for note in conn.notifies(timeout=POLL_SECONDS):
                    self._receive(note.payload)
        self._listening = False

    def _receive(self, payload: str) -> None:
        try:
            relayed = RelayedAlert.model_validate(json.loads(payload))
        except (ValueError, ValidationError):
            log.warning("alert relay: ignored a malformed notification %.200r", payload)
            return
        if relayed.origin == self.origin:
            return  # raised here: already delivered to the local subscribers
        event = self._event(relayed)
        if event is not None:
            self.received += 1
            self.bus.deliver(event)

    def _event(self, relayed: RelayedAlert) -> AlertEvent | None:
        if relayed.kind == "purged":
            return AlertEvent.purged(relayed.alert_id, relayed.at)
        from vigil.services.alerts import public_alert

        try:
            with self.db.read() as s:
                public = public_alert(AlertRepo(s).record(relayed.alert_id))
        except NotFound:
            return None  # purged meanwhile: its purged event follows
        return AlertEvent.of(relayed.kind, public, relayed.at)
