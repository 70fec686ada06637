"""Events for alerts changed by bulk statements (a retention round), on the one alert bus.

The retention round (:mod:`vigil.accountability.retention`, a layer below the services) deletes
alerts and drops crops in bulk; :class:`AlertAnnouncer` is how it announces them
(:class:`~vigil.accountability.retention.RetentionEvents`): a ``purged`` event per deleted alert
and an ``updated`` one (with the alert's public shape, crop gone) per changed alert, staged in
the round's transaction (:class:`~vigil.services.alert_bus.StagedEvents`: written to the relay
log with it) and delivered to this process's subscribers after its commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from vigil.domain.events import AlertEvent
from vigil.services.alert_bus import AlertBus, StagedEvents
from vigil.services.alert_public import load_public
from vigil.timeutil import utcnow


class AlertAnnouncer:
    """Stages the events of alerts deleted or changed in bulk; verb :meth:`stage`."""

    def __init__(self, bus: AlertBus) -> None:
        self.bus = bus

    def stage(
        self, s: Session, purged: Sequence[int], updated: Sequence[int]
    ) -> Callable[[], None]:
        """Inside the write transaction ``s``: one event per alert, ``purged`` ones first.
        Returns the local delivery, to call once ``s`` has committed."""
        events = StagedEvents(self.bus)
        at = utcnow()
        for alert_id in purged:
            events.add(s, AlertEvent.purged(alert_id, at))
        for alert_id in updated:
            events.add(s, AlertEvent.of("updated", load_public(s, alert_id), at))
        return events.deliver
