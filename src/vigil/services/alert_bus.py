"""Alert events: the ONE bus every producer holds, and how an event leaves its transaction.

Every change to an alert is announced as ONE :class:`~vigil.domain.events.AlertEvent`. Producers
(AlertStore: ``candidate``, ``updated``; ReviewService: ``reviewed``, ``confirmed``, ``rejected``;
SightingReviewService: ``updated``; the authorization and subject purges: ``purged``; retention
rounds: ``purged`` and ``updated``) announce it in two steps, a transactional outbox:

1. inside the change's write transaction, :meth:`AlertBus.stage` hands the event to the attached
   relay, if any (:mod:`vigil.services.alert_relay`: a server's relay, or the CLI's
   ``announcing_bus``), which writes its relay-log row (and, on PostgreSQL, its NOTIFY) in that
   same transaction: they commit with the change or vanish with its rollback;
2. once the transaction has committed, :meth:`AlertBus.deliver` hands it to this process's
   subscribers (a rolled-back change announces nothing).

A process that dies between the commit and step 2 loses only its own local delivery; the other
processes still get the event. :class:`StagedEvents` keeps the events of one transaction for
step 2. :meth:`AlertBus.publish` is for an event with no change transaction of its own: it
delivers locally, then relays in a transaction of its own.

Callbacks run on the delivering thread and must not block; a failing callback is logged and
never stops the others. Without a relay (tests, ``vigil analyze``) step 1 does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session

from vigil.domain.events import AlertEvent

log = logging.getLogger(__name__)

Subscriber = Callable[[AlertEvent], None]


class Relay(Protocol):
    """Carries an event to the other processes (:mod:`vigil.services.alert_relay`)."""

    def record(self, s: Session, event: AlertEvent) -> None:
        """Inside the change's write transaction ``s``: relay ``event`` when ``s`` commits."""

    def send(self, event: AlertEvent) -> None:
        """Relay ``event`` in a write transaction of its own."""


class AlertBus:
    """Publish/subscribe for alert events (the one publisher every producer holds).

    :meth:`stage` (inside the change's transaction) then :meth:`deliver` (after its commit) is
    how producers announce a change. The relay hands the other processes' events to
    :meth:`deliver` too, which reaches local subscribers only.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._relay: Relay | None = None

    def attach_relay(self, relay: Relay | None) -> None:
        self._relay = relay

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def stage(self, s: Session, event: AlertEvent) -> AlertEvent:
        """Inside the change's write transaction ``s``: the relay writes the event with it (it
        commits or rolls back with the change). Returns ``event``, to :meth:`deliver` after
        the commit."""
        relay = self._relay
        if relay is not None:
            relay.record(s, event)
        return event

    def publish(self, event: AlertEvent) -> None:
        """An event with no change transaction of its own: local subscribers, then the other
        processes (relayed in a transaction of its own)."""
        self.deliver(event)
        relay = self._relay
        if relay is not None:
            try:
                relay.send(event)
            except Exception:  # the local delivery stands; other processes miss this one
                log.exception(
                    "alert %s: could not relay the event to other processes", event.alert_id
                )

    def deliver(self, event: AlertEvent) -> None:
        """Hand ``event`` to this process's subscribers only."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the pipeline
                log.exception("alert subscriber %r failed on alert %s", callback, event.alert_id)


class StagedEvents:
    """The events of one write transaction: each staged inside it (:meth:`add`), all delivered
    locally once it has committed (:meth:`deliver`). ``bus`` None: nothing is announced."""

    def __init__(self, bus: AlertBus | None) -> None:
        self.bus = bus
        self.events: list[AlertEvent] = []

    def add(self, s: Session, event: AlertEvent) -> None:
        if self.bus is not None:
            self.events.append(self.bus.stage(s, event))

    def deliver(self) -> None:
        """After the commit: every staged event to this process's subscribers, in order."""
        if self.bus is not None:
            for event in self.events:
                self.bus.deliver(event)
