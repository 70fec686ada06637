"""Alert events across command-center processes: a relay log in the database, read by each.

Several ``vigil serve`` processes (on one or several machines with PostgreSQL, on one machine with
one SQLite file) and the CLI share one database. Each server's
:class:`~vigil.services.alert_bus.AlertBus` delivers its own events to its subscribers after the
commit; the relay log carries them to the other processes:

* :class:`RelayWriter` ``record`` (a transactional outbox): inside the change's own write
  transaction (:meth:`AlertBus.stage <vigil.services.alert_bus.AlertBus.stage>`), it appends a
  ``relay_log`` row (origin process, alert id, kind, time; no personal data) and, on
  PostgreSQL, ``pg_notify``-s the transaction's first row id on :data:`CHANNEL` (once per
  transaction: a listener woken by it reads every row after the last one it handled). The row
  commits with the change or vanishes with its rollback; PostgreSQL delivers the notification
  only at the commit. Writes take the writer lock (:meth:`Database.write`: a transaction-level
  advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so relay-log ids commit in
  increasing order. ``send`` does the same in a transaction of its own, for an event with no
  change transaction (:meth:`AlertBus.publish`). A process with no subscribers of its own (the
  CLI) holds :func:`announcing_bus`: a bus whose events are only written to the log.
* a reader per server process hands the other processes' rows to its bus: on PostgreSQL
  (:class:`PgAlertRelay`) a listener thread (``LISTEN`` on its own connection) treats a
  notification as a wake-up; on SQLite (:class:`SqliteAlertRelay`, no notifications) a thread
  polls the log every :data:`POLL_SECONDS`. Either reads the log rows with ``id >`` the last one
  it handled, in order, skips its own (the raising process delivers them locally after its
  commit), loads each alert's public shape from the database and hands the event to the bus's
  local subscribers (:meth:`AlertBus.deliver`). A ``purged`` event carries only the id; an alert
  deleted meanwhile is skipped (its purged event follows). :func:`start_relay` picks the one
  for the database.

Guarantees. A committed change's event reaches each other process's subscribers exactly once and
in commit order, even when the raising process dies right after its commit (the row committed
with the change); a rolled-back change leaves no row and no event. A lost listener connection is
reopened with :class:`vigil.retry.Backoff`; after the new ``LISTEN`` the listener reads the rows
written while it was away, so this holds across reconnects as long as the outage is shorter
than :data:`KEEP` (older rows are deleted by the writers; a longer outage loses those events,
and the dashboard's list reload shows the state). A relay starts from the log's end: events from
before it started are not replayed. The raising process's own subscribers get the event from its
bus after the commit: a process that dies in between loses only its own local delivery.
"""

from __future__ import annotations

import logging
import os
import select
import sqlite3
import time
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
from vigil.services.alert_bus import AlertBus
from vigil.services.alert_public import public_alert
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.db.models import RelayLogEntry

log = logging.getLogger(__name__)

CHANNEL = "vigil_alerts"
POLL_SECONDS = 0.5  # PostgreSQL: the listener's longest wait; SQLite: the log's poll interval
KEEP = timedelta(hours=1)  # relay-log rows older than this are deleted (longest outage covered)
PRUNE_EVERY_SECONDS = 60.0  # a writer deletes the old rows at most this often
BATCH = 500  # log rows read per query
_STAGED = "vigil_relay_staged"  # Session.info key: the transaction that has its notification


def psycopg_dsn(url: str) -> str:
    """The libpq URI of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class RelayWriter:
    """Writes this process's alert events into the relay log (the bus's relay on the write side:
    :class:`~vigil.services.alert_bus.Relay`). ``origin`` names this process in the log."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.origin = uuid.uuid4().hex
        self._pruned_at: float | None = None  # monotonic time of this writer's last prune

    def record(self, s: Session, event: AlertEvent) -> None:
        """Inside the change's write transaction ``s`` (AlertBus.stage): append the event to the
        relay log (and notify, on PostgreSQL); both take effect when ``s`` commits, never if it
        rolls back."""
        now = utcnow()
        repo = RelayLogRepo(s)
        row_id = repo.append(
            origin=self.origin, alert_id=event.alert_id, kind=event.kind, at=event.at, now=now
        )
        tick = time.monotonic()
        if self._pruned_at is None or tick - self._pruned_at >= PRUNE_EVERY_SECONDS:
            repo.prune(now - KEEP)
            self._pruned_at = tick
        transaction = s.get_transaction()
        if self.db.is_postgresql and s.info.get(_STAGED) is not transaction:
            s.info[_STAGED] = transaction  # one wake-up per transaction: it reads all the rows
            repo.notify(CHANNEL, str(row_id))

    def send(self, event: AlertEvent) -> None:
        """:meth:`record` in a write transaction of its own (AlertBus.publish: an event with no
        change transaction)."""
        with self.db.write() as s:
            self.record(s, event)


def announcing_bus(db: Database) -> AlertBus:
    """A bus for a process with no subscribers of its own (the CLI): every event it stages is
    written to the relay log in the change's transaction, for the running servers to deliver."""
    bus = AlertBus()
    bus.attach_relay(RelayWriter(db))
    return bus


class _LogReader:
    """Writes this process's events (:class:`RelayWriter`) and delivers the other processes'
    relay-log rows to ``bus``, once each and in order (the part both relays share)."""

    def __init__(self, db: Database, bus: AlertBus) -> None:
        self.db = db
        self.bus = bus
        self.writer = RelayWriter(db)
        self.received = 0  # events delivered from other processes
        self._last_id: int | None = None  # the newest relay-log row handled

    @property
    def origin(self) -> str:
        return self.writer.origin

    def record(self, s: Session, event: AlertEvent) -> None:
        self.writer.record(s, event)

    def send(self, event: AlertEvent) -> None:
        self.writer.send(event)

    def _start_at_the_end(self) -> None:
        with self.db.read() as s:
            self._last_id = RelayLogRepo(s).last_id()

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


class SqliteAlertRelay(_LogReader):
    """SQLite (no notifications): polls every :data:`POLL_SECONDS` on a background loop; sends
    this process's events to the others through the log.

    A poll first asks its own connection for ``PRAGMA data_version`` (it changes when another
    connection commits; microseconds) and reads the relay log only when it changed, so an idle
    server's polling costs next to nothing.
    """

    def __init__(self, db: Database, bus: AlertBus) -> None:
        if not db.is_sqlite:
            raise ValueError("SqliteAlertRelay needs a SQLite database")
        super().__init__(db, bus)
        self._loop = BackgroundLoop.periodic(
            "vigil-alert-relay", self._poll, POLL_SECONDS, first_delay=POLL_SECONDS
        )
        self._watch: sqlite3.Connection | None = None  # read by the polling thread only
        self._version: int | None = None  # data_version at the last read of the log

    def start(self) -> SqliteAlertRelay:
        """Attach to the bus and start polling: every row committed after this returns is
        delivered (those before are not replayed)."""
        path = make_url(self.db.url).database or ""
        self._watch = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._version = self._data_version()
        self.bus.attach_relay(self)
        self._start_at_the_end()
        self._loop.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.bus.attach_relay(None)
        if self._loop.stop(timeout) and self._watch is not None:
            self._watch.close()
            self._watch = None

    @property
    def listening(self) -> bool:
        return self._loop.running

    def _data_version(self) -> int | None:
        watch = self._watch
        return None if watch is None else int(watch.execute("PRAGMA data_version").fetchone()[0])

    def _poll(self) -> None:
        version = self._data_version()  # read before the log: a later commit changes it
        if version is not None and version == self._version:
            return  # nothing committed by another connection since the last read
        self._version = version
        self._catch_up()


class PgAlertRelay(_LogReader):
    """Sends this process's alert events to the others and delivers theirs to ``bus``."""

    def __init__(self, db: Database, bus: AlertBus, *, backoff: Backoff | None = None) -> None:
        if not db.is_postgresql:
            raise ValueError("PgAlertRelay needs a PostgreSQL database")
        super().__init__(db, bus)
        # The listener's connection shows under this name in pg_stat_activity.
        self.application_name = f"vigil-relay-{self.origin[:12]}"
        self.backoff = backoff or Backoff(0.5, 30.0, 2.0, jitter=0.1)
        self.reconnects = 0  # listener connections reopened after a loss
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
            self._start_at_the_end()
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


AlertRelay = PgAlertRelay | SqliteAlertRelay


def start_relay(db: Database, bus: AlertBus) -> AlertRelay:
    """The relay for ``db`` (PostgreSQL: LISTEN/NOTIFY; SQLite: polling), attached to ``bus``
    and started: this server's events reach the other processes, and theirs reach ``bus``."""
    if db.is_postgresql:
        return PgAlertRelay(db, bus).start()
    return SqliteAlertRelay(db, bus).start()
