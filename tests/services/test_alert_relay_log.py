"""The relay log between processes on either backend (start_relay: PostgreSQL LISTEN/NOTIFY,
SQLite polling): two buses with two database handles, as two `vigil serve` processes hold, and
the CLI's announcing bus, which only writes to the log."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pg_seed import store_candidate
from vigil.context import AppContext
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.repositories.relay_log import RelayLogRepo
from vigil.services.alert_bus import StagedEvents
from vigil.services.alert_relay import AlertRelay, SqliteAlertRelay, announcing_bus, start_relay
from vigil.services.alerts import AlertBus
from vigil.services.authorizations import AuthorizationService
from vigil.timeutil import utcnow
from waiting import wait_for

Relay = tuple[AlertBus, AlertRelay, list[AlertEvent]]


@pytest.fixture()
def relays(context: AppContext) -> Iterator[Callable[[Database], Relay]]:
    """``relays(db)``: a started relay on ``db`` with a bus recording its events."""
    started: list[AlertRelay] = []

    def make(db: Database) -> Relay:
        bus = AlertBus()
        events: list[AlertEvent] = []
        bus.subscribe(events.append)
        relay = start_relay(db, bus)
        started.append(relay)
        wait_for(lambda: relay.listening, "the relay to listen")
        return bus, relay, events

    yield make
    for relay in started:
        relay.stop()


@pytest.fixture()
def other_db(context: AppContext) -> Iterator[Database]:
    """A second handle on the test's database (another process's engine)."""
    db = Database(context.settings.db_url)
    yield db
    db.dispose()


def _kinds(events: list[AlertEvent]) -> list[tuple[str, int]]:
    return [(e.kind, e.alert_id) for e in events]


def test_a_transactions_events_reach_the_other_process_once_in_order(
    context: AppContext, other_db: Database, relays: Callable[[Database], Relay]
) -> None:
    alert_id = store_candidate(context)
    bus_a, relay_a, events_a = relays(context.db)
    _bus_b, relay_b, events_b = relays(other_db)
    staged = StagedEvents(bus_a)
    with context.db.write() as s:  # three events in one transaction: one wake-up on PostgreSQL
        for n in (1, 2, 3):
            staged.add(s, AlertEvent.purged(alert_id + n, utcnow()))
    staged.deliver()
    bus_a.publish(AlertEvent.purged(alert_id, utcnow()))
    wait_for(lambda: len(events_b) >= 4, "the four events on B")
    bus_a.publish(AlertEvent.purged(alert_id + 9, utcnow()))  # after a duplicate, if one came
    wait_for(lambda: ("purged", alert_id + 9) in _kinds(events_b), "the last event on B")
    expected = [("purged", alert_id + n) for n in (1, 2, 3, 0, 9)]
    assert _kinds(events_b) == expected
    assert _kinds(events_a) == expected  # A's own: delivered locally, never relayed back
    assert relay_a.received == 0 and relay_b.received == 5


def test_the_cli_bus_only_writes_the_log_and_the_servers_deliver(
    context: AppContext, other_db: Database, relays: Callable[[Database], Relay]
) -> None:
    alert_id = store_candidate(context, "ORDER-CLI")
    _bus, relay, events = relays(other_db)
    cli_db = Database(context.settings.db_url)
    try:
        AuthorizationService(cli_db, announcing_bus(cli_db)).end(
            "ORDER-CLI", AuthorizationStatus.revoked, actor="cli"
        )
    finally:
        cli_db.dispose()
    wait_for(lambda: events, "the purge on the server")
    assert _kinds(events) == [("purged", alert_id)] and relay.received == 1


def test_a_rolled_back_change_leaves_no_row_and_the_next_one_arrives_alone(
    context: AppContext, other_db: Database, relays: Callable[[Database], Relay]
) -> None:
    bus_a, _relay_a, _events_a = relays(context.db)
    _bus_b, _relay_b, events_b = relays(other_db)
    with pytest.raises(RuntimeError), context.db.write() as s:
        bus_a.stage(s, AlertEvent.purged(7, utcnow()))
        raise RuntimeError("the change fails after its event was staged")
    bus_a.publish(AlertEvent.purged(8, utcnow()))
    wait_for(lambda: events_b, "the second event on B")
    assert _kinds(events_b) == [("purged", 8)]


@pytest.mark.sqlite_only
def test_a_sqlite_relay_starts_at_the_end_of_the_log_and_stops(
    context: AppContext, other_db: Database
) -> None:
    announcing_bus(context.db).publish(AlertEvent.purged(5, utcnow()))  # before B started
    bus = AlertBus()
    events: list[AlertEvent] = []
    bus.subscribe(events.append)
    relay = start_relay(other_db, bus)
    assert isinstance(relay, SqliteAlertRelay)
    with context.db.read() as s:
        assert relay._last_id == RelayLogRepo(s).last_id() > 0  # from the end: no replay
    relay._catch_up()
    assert events == []
    relay.stop()
    assert not relay.listening
