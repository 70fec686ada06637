"""Alert events across command-center processes: a relay log in PostgreSQL plus LISTEN/NOTIFY.

Several ``vigil serve`` processes (on one or several machines) share one PostgreSQL database.
Each one's :class:`~vigil.services.alert_bus.AlertBus` delivers its own events to its
subscribers after the commit, and :class:`PgAlertRelay` carries them to the other processes:

* ``record`` (a transactional outbox): inside the change's own write transaction
  (:meth:`AlertBus.stage <vigil.services.alert_bus.AlertBus.stage>`), it appends a
  ``relay_log`` row (origin process, alert id, kind, time; no personal data) and ``pg_notify``-s
  its id on :data:`CHANNEL`. The row commits with the change or vanishes with its rollback;
  PostgreSQL delivers the notification only at the commit. Writes take the writer lock
  (:meth:`Database.write`, a transaction-level advisory lock across processes), so relay-log ids
  commit in increasing order. ``send`` does the same in a transaction of its own, for an event
  with no change transaction (:meth:`AlertBus.publish`).
* a listener thread per process (``LISTEN`` on its own connection) treats a notification as a
  wake-up: it reads the log rows with ``id >`` the last one it handled, in order, skips its own
  (the raising process delivers them locally after its commit), loads each alert's public shape
  from the database and hands the event to the bus's local subscribers
  (:meth:`AlertBus.deliver`). A ``purged`` event carries only the id; an alert deleted meanwhile
  is skipped (its purged event follows).

Guarantees. A committed change's event reaches each other process's subscribers exactly once and
in commit order, even when the raising process dies right after its commit (the row committed
with the change); a rolled-back change leaves no row and no event. A lost listener connection is
reopened with :class:`vigil.retry.Backoff`; after the new ``LISTEN`` the listener reads the rows
written while it was away, so this holds across reconnects as long as the outage is shorter
than :data:`KEEP` (older rows are deleted by the senders; a longer outage loses those events,
and the dashboard's list reload shows the state). A relay starts from the log's end: events from
before it started are not replayed. The raising process's own subscribers get the event from its
bus after the commit: a process that dies in between loses only its own local delivery.
"""

from __future__ import annotations

import logging
import os
import select
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from vigil.db.session import Database
from vigil.domain.events import ALERT_KINDS, AlertEvent
from vigil.errors import NotFound
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.relay_log import RelayLogRepo
from vigil.retry import Backoff
from vigil.services.alert_public import public_alert
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.db.models import RelayLogEntry
    from vigil.services.alert_bus import AlertBus

log = logging.getLogger(__name__)

CHANNEL = "vigil_alerts"
POLL_SECONDS = 0.5  # the listener's longest wait between checks (stop() also wakes it at once)
KEEP = timedelta(hours=1)  # relay-log rows older than this are deleted (longest outage covered)
BATCH = 500  # log rows read per query


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
        # The listener's connection shows under this name in pg_stat_activity.
        self.application_name = f"vigil-relay-{self.origin[:12]}"
        self.backoff = backoff or Backoff(0.5, 30.0, 2.0, jitter=0.1)
        self.received = 0  # events delivered from other processes
        self.reconnects = 0  # listener connections reopened after a loss
        self._last_id: int | None = None  # the newest relay-log row handled (listener thread)
        self._loop = BackgroundLoop("vigil-alert-relay", self._listen)
        self._listening = False
        self._wake: tuple[int, int] | None = None  # a pipe: stop() writes, the listener wakes

    def start(self) -> PgAlertRelay:
        self.bus.attach_relay(self)
        if self._wake is None:
            self._wake = os.pipe()
        self._loop.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening: the listener is woken at once, not at its next poll."""
        self.bus.attach_relay(None)
        self._loop.request_stop()
        wake = self._wake
        if wake is not None:
            os.write(wake[1], b"x")
        if self._loop.stop(timeout) and wake is not None:
            self._wake = None
            for fd in wake:
                os.close(fd)

    @property
    def listening(self) -> bool:
        """True once the listener's LISTEN is in place and it has caught up with the log."""
        return self._listening

    def record(self, s: Session, event: AlertEvent) -> None:
        """Inside the change's write transaction ``s`` (AlertBus.stage): append the event to the
        relay log and notify; both take effect when ``s`` commits, never if it rolls back."""
        now = utcnow()
        repo = RelayLogRepo(s)
        row = repo.append(
            origin=self.origin, alert_id=event.alert_id, kind=event.kind, at=event.at, now=now
        )
        repo.prune(now - KEEP)
        repo.notify(CHANNEL, str(row.id))

    def send(self, event: AlertEvent) -> None:
        """:meth:`record` in a write transaction of its own (AlertBus.publish: an event with no
        change transaction)."""
        with self.db.write() as s:
            self.record(s, event)

    def _listen(self) -> None:
        attempt = 0
        while not self._loop.stopping:
            try:
                self._listen_once()
                attempt = 0
            except Exception as exc:  # psycopg.Error and friends: reconnect after a pause
                self._listening = False
                attempt += 1
                self.reconnects += 1
                delay = self.backoff.delay(attempt)
                log.warning("alert relay: listener lost (%s); reconnecting in %.1f s", exc, delay)
                self._loop.sleep(delay)

    def _listen_once(self) -> None:
        import psycopg

        if self._last_id is None:  # first start: from the log's end, read before LISTEN
            with self.db.read() as s:
                self._last_id = RelayLogRepo(s).last_id()
        dsn = psycopg_dsn(self.db.url)
        with psycopg.connect(dsn, autocommit=True, application_name=self.application_name) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._catch_up()  # what was written while no LISTEN was in place
            self._listening = True
            while not self._loop.stopping:
                for note in conn.notifies(timeout=0):  # what has arrived, without waiting
                    self._receive(note.payload)
                self._wait_readable(conn.fileno())
        self._listening = False

    def _wait_readable(self, fileno: int) -> None:
        """Wait up to POLL_SECONDS for data on the connection or a wake-up from stop()."""
        poller = select.poll()  # not select.select: descriptors past 1024 are fine
        poller.register(fileno, select.POLLIN)
        wake = self._wake
        if wake is not None:
            poller.register(wake[0], select.POLLIN)
        ready = {fd for fd, _event in poller.poll(POLL_SECONDS * 1000)}
        if wake is not None and wake[0] in ready:
            os.read(wake[0], 64)

    def _receive(self, payload: str) -> None:
        """A notification: the id of a new relay-log row (a wake-up; the log says what)."""
        try:
            row_id = int(payload)
        except ValueError:
            log.warning("alert relay: ignored a malformed notification %.200r", payload)
            return
        if self._last_id is None or row_id > self._last_id:
            self._catch_up()

    def _catch_up(self) -> None:
        """Deliver every relay-log row after the last one handled, oldest first, once each."""
        while True:
            with self.db.read() as s:
                rows = list(RelayLogRepo(s).after(self._last_id or 0, BATCH))
            for row in rows:
                self._handle(row)
                self._last_id = row.id
            if len(rows) < BATCH:
                return

    def _handle(self, row: RelayLogEntry) -> None:
        if row.origin == self.origin:
            return  # raised here: already delivered to the local subscribers
        event = self._event(row)
        if event is not None:
            self.received += 1
            self.bus.deliver(event)

    def _event(self, row: RelayLogEntry) -> AlertEvent | None:
        if row.kind not in ALERT_KINDS:
            log.warning(
                "alert relay: ignored relay-log row %s of unknown kind %r", row.id, row.kind
            )
            return None
        if row.kind == "purged":
            return AlertEvent.purged(row.alert_id, row.at)
        try:
            with self.db.read() as s:
                public = public_alert(AlertRepo(s).record(row.alert_id))
        except NotFound:
            return None  # purged meanwhile: its purged event follows
        return AlertEvent.of(row.kind, public, row.at)
