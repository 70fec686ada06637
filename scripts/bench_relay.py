#!/usr/bin/env python3
"""What the relay log costs: CPU added per alert event written, and a SQLite relay's idle polling.

    PYTHONPATH=src .venv/bin/python scripts/bench_relay.py [--events 2000] [--idle 30]
        [--database-url postgresql+psycopg://...]   # default: a throw-away SQLite file

Prints one JSON object:

* ``per_event_ms``: CPU ms of one write transaction making a (no-op) change and staging one
  event, without a relay and with the relay's writer (relay-log row; PostgreSQL: pg_notify),
  and the difference; the same per event for events staged many to a transaction (a
  revocation or a retention round). The fastest of ``--rounds`` rounds.
* ``idle``: CPU ms per second of this process over ``--idle`` seconds with a SQLite relay
  polling an unchanging log every POLL_SECONDS, against the same time with no relay.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable

from sqlalchemy import text

from vigil.db.session import Database
from vigil.domain.events import AlertEvent
from vigil.services import alert_relay
from vigil.services.alert_bus import AlertBus, StagedEvents
from vigil.services.alert_relay import RelayWriter, SqliteAlertRelay
from vigil.timeutil import utcnow

BULK = 500  # events staged in one transaction for the bulk figure


def _bus(db: Database, relayed: bool) -> AlertBus:
    bus = AlertBus()
    if relayed:
        bus.attach_relay(RelayWriter(db))
    return bus


def _cpu_ms(action: Callable[[], None]) -> float:
    start = time.process_time()
    action()
    return (time.process_time() - start) * 1000.0


# The change every measured transaction makes (a real write statement, touching no row), so
# that the difference is the relay's part and not the cost of a transaction at all.
CHANGE = text("UPDATE alerts SET last_seen = last_seen WHERE id = -1")


def _one_per_transaction(db: Database, bus: AlertBus, events: int) -> float:
    """CPU ms per write transaction that makes a change and stages (and delivers) one event."""

    def run() -> None:
        for n in range(events):
            staged = StagedEvents(bus)
            with db.write() as s:
                s.execute(CHANGE)
                staged.add(s, AlertEvent.purged(n + 1, utcnow()))
            staged.deliver()

    return _cpu_ms(run) / events


def _many_per_transaction(db: Database, bus: AlertBus, events: int) -> float:
    """CPU ms per event, ``BULK`` events staged per write transaction."""

    def run() -> None:
        for start in range(0, events, BULK):
            staged = StagedEvents(bus)
            with db.write() as s:
                s.execute(CHANGE)
                for n in range(start, min(events, start + BULK)):
                    staged.add(s, AlertEvent.purged(n + 1, utcnow()))
            staged.deliver()

    return _cpu_ms(run) / events


def per_event(db: Database, events: int, rounds: int) -> dict[str, float]:
    """The fastest of ``rounds`` interleaved rounds of each figure (the least disturbed by other
    load on the machine)."""
    _one_per_transaction(db, _bus(db, True), 50)  # warm-up: connections, statement caches
    figures: dict[str, list[float]] = {}
    for _ in range(rounds):
        for relayed in (False, True):
            name = "with_relay" if relayed else "without_relay"
            one = _one_per_transaction(db, _bus(db, relayed), events)
            bulk = _many_per_transaction(db, _bus(db, relayed), events)
            figures.setdefault(f"one_per_transaction_{name}", []).append(one)
            figures.setdefault(f"bulk_{name}", []).append(bulk)
    best = {name: min(values) for name, values in figures.items()}
    for kind in ("one_per_transaction", "bulk"):
        best[f"{kind}_added"] = best[f"{kind}_with_relay"] - best[f"{kind}_without_relay"]
    return {name: round(value, 4) for name, value in best.items()}


def idle(db: Database, seconds: float) -> dict[str, float]:
    """CPU ms/s of the process with no relay, then with a SQLite relay polling (log unchanged)."""
    baseline = _cpu_ms(lambda: time.sleep(seconds)) / seconds
    relay = SqliteAlertRelay(db, AlertBus()).start()
    try:
        polling = _cpu_ms(lambda: time.sleep(seconds)) / seconds
    finally:
        relay.stop()
    per_poll = (polling - baseline) * alert_relay.POLL_SECONDS
    return {
        "seconds": seconds,
        "poll_seconds": alert_relay.POLL_SECONDS,
        "cpu_ms_per_s_without_relay": round(baseline, 4),
        "cpu_ms_per_s_with_relay": round(polling, 4),
        "cpu_ms_per_poll": round(per_poll, 4),
        "cpu_percent_of_one_core": round((polling - baseline) / 10.0, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the fastest counts)")
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured")
    parser.add_argument("--database-url", default=None, help="default: a throw-away SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(args.database_url or f"sqlite:///{folder}/bench.db")
        db.migrate()
        result: dict[str, object] = {
            "backend": "postgresql" if db.is_postgresql else "sqlite",
            "events": args.events,
            "per_event_ms": per_event(db, args.events, args.rounds),
        }
        if db.is_sqlite and args.idle > 0:
            result["idle"] = idle(db, args.idle)
        db.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
