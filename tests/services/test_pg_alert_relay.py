"""Alert events across processes over PostgreSQL LISTEN/NOTIFY (two buses, two relays, two
database handles: what two `vigil serve` processes hold)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pg_seed import store_candidate
from vigil.config import load_settings
from vigil.context import AppContext, build_context
from vigil.db.models import Alert
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.repositories.relay_log import RelayLogRepo
from vigil.retry import Backoff
from vigil.services import alert_relay
from vigil.services.alert_relay import PgAlertRelay
from vigil.services.alerts import AlertBus, AlertQueries
from vigil.services.authorizations import AuthorizationService
from vigil.services.reviews import ReviewService
from vigil.timeutil import utcnow


@pytest.fixture()
def pg_context(vigil_home: Path, pg_database: str) -> Iterator[AppContext]:
    context = build_context(
        load_settings({"VIGIL_HOME": str(vigil_home), "VIGIL_DATABASE_URL": pg_database})
    )
    yield context
    context.close()


def _wait_for(events: list[AlertEvent], count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _relay(db: Database) -> tuple[AlertBus, PgAlertRelay, list[AlertEvent]]:
    bus = AlertBus()
    events: list[AlertEvent] = []
    bus.subscribe(events.append)
    relay = PgAlertRelay(db, bus).start()
    deadline = time.monotonic() + 20
    while not relay.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relay.listening
    return bus, relay, events


def test_an_event_reaches_the_other_process_once_and_never_comes_back(
    pg_context: AppContext,
) -> None:
    alert_id = store_candidate(pg_context)
    public = AlertQueries(pg_context.db, pg_context.cipher).get(alert_id)
    other_db = Database(pg_context.settings.db_url)
    bus_a, relay_a, events_a = _relay(pg_context.db)
    _bus_b, relay_b, events_b = _relay(other_db)
    try:
        bus_a.publish(AlertEvent.of("reviewed", public, utcnow()))
        bus_a.publish(AlertEvent.purged(alert_id, utcnow()))
        _wait_for(events_b, 2)
        time.sleep(0.5)  # time enough for A's own notifications to come back, if they did
        assert [(e.kind, e.alert_id) for e in events_b] == [
            ("reviewed", alert_id),
            ("purged", alert_id),
        ]
        assert events_b[0].alert == public  # loaded from the database by the receiver
        assert [e.kind for e in events_a] == ["reviewed", "purged"]  # local, once each
        assert relay_a.received == 0 and relay_b.received == 2
    finally:
        relay_a.stop()
        relay_b.stop()
        other_db.dispose()


def test_a_malformed_notification_is_ignored(pg_context: AppContext) -> None:
    _bus, relay, events = _relay(pg_context.db)
    try:
        relay._receive("not json")
        relay._receive('{"origin": "x", "alert_id": 1, "kind": "eaten", "at": "2026-01-01"}')
        assert events == [] and relay.received == 0
    finally:
        relay.stop()


def test_stop_wakes_the_listener_instead_of_waiting_for_its_poll(
    pg_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_relay, "POLL_SECONDS", 3600.0)  # a poll that never ends by itself
    _bus, relay, _events = _relay(pg_context.db)
    relay.stop(timeout=20.0)
    assert not relay._loop.running  # woken by stop(), not by the end of its hour-long wait
    relay.stop()  # a second stop is harmless


def _terminate_listener(db: Database, relay: PgAlertRelay) -> None:
    """Kill the relay's LISTEN connection on the server side (as a failover or a network cut)."""
    with db.engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": relay.application_name},
        ).all()
    assert killed == [(True,)]


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_events_raised_while_a_listener_reconnects_arrive_once_after_it(
    pg_context: AppContext,
) -> None:
    other_db = Database(pg_context.settings.db_url)
    bus_a, relay_a, events_a = _relay(pg_context.db)
    _bus_b, relay_b, events_b = _relay(other_db)
    relay_b.backoff = Backoff(2.0, 2.0)  # the listener stays away 2 s after the loss
    try:
        _terminate_listener(other_db, relay_b)
        _until(lambda: not relay_b.listening)
        alert_id = store_candidate(pg_context, bus=bus_a)  # raised on A while B is away
        bus_a.publish(AlertEvent.purged(alert_id, utcnow()))
        assert not relay_b.listening and events_b == []  # the notifications found no listener
        _until(lambda: relay_b.listening and len(events_b) >= 2)
        time.sleep(1.0)  # time enough for a duplicate to arrive, if one did
        assert relay_b.reconnects == 1
        assert [(e.kind, e.alert_id) for e in events_b] == [
            ("candidate", alert_id),
            ("purged", alert_id),
        ]
        assert events_b[0].alert is not None and events_b[0].alert.id == alert_id
        bus_a.publish(AlertEvent.purged(alert_id, utcnow()))  # and live delivery goes on
        _until(lambda: len(events_b) == 3)
        assert [e.kind for e in events_a] == ["candidate", "purged", "purged"]
        assert relay_a.received == 0 and relay_b.received == 3
    finally:
        relay_a.stop()
        relay_b.stop()
        other_db.dispose()


def test_a_relay_starts_from_the_end_of_the_log(pg_context: AppContext) -> None:
    alert_id = store_candidate(pg_context)
    bus_a, relay_a, _events_a = _relay(pg_context.db)
    bus_a.publish(AlertEvent.purged(alert_id, utcnow()))  # before B exists
    relay_a.stop()
    other_db = Database(pg_context.settings.db_url)
    _bus_b, relay_b, events_b = _relay(other_db)
    try:
        time.sleep(1.0)
        assert events_b == []  # no replay of what happened before it started
    finally:
        relay_b.stop()
        other_db.dispose()


class ProcessDied(Exception):
    """Stands for the raising process's death: nothing it would do after the commit happens."""


def test_a_change_whose_process_dies_right_after_its_commit_reaches_the_others_once(
    pg_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_db = Database(pg_context.settings.db_url)
    bus_a, relay_a, events_a = _relay(pg_context.db)
    _bus_b, relay_b, events_b = _relay(other_db)

    def die(event: AlertEvent) -> None:
        raise ProcessDied(event.kind)

    monkeypatch.setattr(bus_a, "deliver", die)  # A dies after each commit, before its publish
    try:
        with pytest.raises(ProcessDied):
            store_candidate(pg_context, bus=bus_a)
        _until(lambda: len(events_b) == 1)
        alert_id = events_b[0].alert_id
        with pytest.raises(ProcessDied):
            ReviewService(pg_context.db, bus_a).review(alert_id, "ann", "confirm")
        _until(lambda: len(events_b) == 2)
        with pytest.raises(ProcessDied):
            AuthorizationService(pg_context.db, bus_a).end(
                "ORDER-ALERT", AuthorizationStatus.revoked, actor="test"
            )
        _until(lambda: len(events_b) == 3)
        time.sleep(1.0)  # time enough for a duplicate to arrive, if one did
        assert [(e.kind, e.alert_id) for e in events_b] == [
            ("candidate", alert_id),
            ("reviewed", alert_id),
            ("purged", alert_id),
        ]
        assert events_b[1].alert is not None
        assert events_b[1].alert.status is AlertStatus.pending_second
        assert events_a == [] and relay_a.received == 0 and relay_b.received == 3
    finally:
        relay_a.stop()
        relay_b.stop()
        other_db.dispose()


def test_a_change_that_rolls_back_leaves_no_relay_row_and_no_event(pg_context: AppContext) -> None:
    alert_id = store_candidate(pg_context)
    other_db = Database(pg_context.settings.db_url)
    bus_a, relay_a, events_a = _relay(pg_context.db)
    _bus_b, relay_b, events_b = _relay(other_db)
    with pg_context.db.read() as s:
        before = RelayLogRepo(s).last_id()
    try:
        with pytest.raises(RuntimeError), pg_context.db.write() as s:
            s.delete(s.get(Alert, alert_id))
            bus_a.stage(s, AlertEvent.purged(alert_id, utcnow()))
            raise RuntimeError("the change fails after its event was staged")
        # the next change's event arrives alone: the relay keeps commit order, so a rolled-back
        # event, had it been relayed, would have come first
        ReviewService(pg_context.db, bus_a).review(alert_id, "ann", "confirm")
        _until(lambda: len(events_b) >= 1)
        time.sleep(0.5)  # time enough for anything else to arrive, if it did
        assert [(e.kind, e.alert_id) for e in events_b] == [("reviewed", alert_id)]
        assert [e.kind for e in events_a] == ["reviewed"]
        with pg_context.db.read() as s:
            rows = RelayLogRepo(s).after(before, 10)
            assert [(r.kind, r.alert_id, r.origin) for r in rows] == [
                ("reviewed", alert_id, relay_a.origin)
            ]
    finally:
        relay_a.stop()
        relay_b.stop()
        other_db.dispose()
