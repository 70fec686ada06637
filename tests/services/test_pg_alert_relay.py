"""Alert events across processes over PostgreSQL LISTEN/NOTIFY (two buses, two relays, two
database handles: what two `vigil serve` processes hold)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_seed import store_candidate
from vigil.config import load_settings
from vigil.context import AppContext, build_context
from vigil.db.session import Database
from vigil.domain.events import AlertEvent
from vigil.services.alert_relay import PgAlertRelay
from vigil.services.alerts import AlertBus, AlertQueries
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
