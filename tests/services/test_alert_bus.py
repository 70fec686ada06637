"""The AlertBus as a transactional outbox: every producer stages its event inside the change's
own write transaction (where the relay writes it) and delivers it to local subscribers only
after the commit; a rolled-back change announces nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from pg_seed import enroll_under
from vigil.context import AppContext
from vigil.db.models import Alert
from vigil.domain.enums import AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.imaging import encode_jpeg
from vigil.services.alert_bus import AlertBus, StagedEvents
from vigil.services.alerts import AlertStore
from vigil.services.authorizations import AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.reviews import ReviewService
from vigil.services.sighting_reviews import SightingReviewService
from vigil.services.watchlist_desk import WatchlistDesk
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, GalleryEntry, Match, SightingUpdate


@dataclass(frozen=True)
class Staged:
    kind: str
    alert_id: int
    status_in_transaction: str | None  # the alert as the producer's transaction sees it
    status_committed: str | None  # the alert as another connection sees it meanwhile
    delivered_before: int  # local deliveries that had happened when it was staged


class PeekingRelay:
    """A relay that notes, inside the producer's transaction, what that transaction sees."""

    def __init__(self, context: AppContext, local: list[AlertEvent]) -> None:
        self.context = context
        self.local = local
        self.staged: list[Staged] = []
        self.sent: list[AlertEvent] = []

    def record(self, s: Session, event: AlertEvent) -> None:
        assert s.in_transaction()
        s.flush()
        with self.context.db.read() as other:
            committed = _status(other, event.alert_id)
        staged = Staged(
            event.kind, event.alert_id, _status(s, event.alert_id), committed, len(self.local)
        )
        self.staged.append(staged)

    def send(self, event: AlertEvent) -> None:
        self.sent.append(event)


def _status(s: Session, alert_id: int) -> str | None:
    alert = s.get(Alert, alert_id, populate_existing=True)
    return None if alert is None else alert.status.value


def _bus(context: AppContext) -> tuple[AlertBus, PeekingRelay, list[AlertEvent]]:
    bus, local = AlertBus(), []
    relay = PeekingRelay(context, local)
    bus.subscribe(local.append)
    bus.attach_relay(relay)
    return bus, relay, local


def _entries(context: AppContext, reference: str) -> list[GalleryEntry]:
    gallery = ActiveGallery(
        context.db, context.cipher, context.settings, context.settings.model_pack
    ).refresh()
    return [e for e in gallery.entries if e.authorization_reference == reference]


def _candidate(entry: GalleryEntry, score: float = 0.9) -> CandidateAlert:
    now = utcnow()
    crop = encode_jpeg(np.zeros((40, 40, 3), np.uint8))
    return CandidateAlert(
        "cam1", now - timedelta(seconds=5), now - timedelta(seconds=1), Match(entry, score), crop, 0
    )


def test_every_producer_stages_its_event_in_its_own_transaction(context: AppContext) -> None:
    bus, relay, local = _bus(context)
    enroll_under(context, "ORDER-BUS", 2)
    enroll_under(context, "ORDER-DESK", 1)
    first, second = _entries(context, "ORDER-BUS")
    (alone,) = _entries(context, "ORDER-DESK")
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    reviews = ReviewService(context.db, bus)
    a = store.save(_candidate(first))
    assert store.save_sighting(SightingUpdate(a, 2, _candidate(first, 0.8)))
    store.update_last_seen(a, utcnow(), 1)
    SightingReviewService(context.db, context.cipher, bus).reject(a, 2, "ann", "not her")
    reviews.review(a, "ann", "confirm")
    reviews.review(a, "bob", "confirm")
    b = store.save(_candidate(second))
    reviews.review(b, "ann", "reject", "not him")
    c = store.save(_candidate(alone))
    unused = lambda data, name: None  # noqa: E731 (the desk validates no photo here)
    desk = WatchlistDesk(context.db, context.cipher, unused, max_image_bytes=1, bus=bus)
    desk.remove_subject(alone.subject_id, actor="test")
    AuthorizationService(context.db, bus).end("ORDER-BUS", AuthorizationStatus.revoked, actor="t")

    # inside the change's transaction: the change is there, not yet committed, not yet delivered
    assert relay.staged == [
        Staged("candidate", a, "candidate", None, 0),
        Staged("updated", a, "candidate", "candidate", 1),
        Staged("updated", a, "candidate", "candidate", 2),
        Staged("updated", a, "candidate", "candidate", 3),
        Staged("reviewed", a, "pending_second", "candidate", 4),
        Staged("confirmed", a, "confirmed", "pending_second", 5),
        Staged("candidate", b, "candidate", None, 6),
        Staged("rejected", b, "rejected", "candidate", 7),
        Staged("candidate", c, "candidate", None, 8),
        Staged("purged", c, None, "candidate", 9),
        Staged("purged", a, None, "confirmed", 10),
        Staged("purged", b, None, "rejected", 10),
    ]
    assert relay.sent == []  # nothing relayed after the commit
    # then, once committed, each event reached the local subscribers once, in order
    assert [(e.kind, e.alert_id) for e in local] == [(x.kind, x.alert_id) for x in relay.staged]


def test_a_change_that_rolls_back_announces_nothing(context: AppContext) -> None:
    bus, relay, local = _bus(context)
    enroll_under(context, "ORDER-BACK", 1)
    (entry,) = _entries(context, "ORDER-BACK")
    alert_id = AlertStore(context.db, context.cipher, context.settings, bus).save(_candidate(entry))
    events = StagedEvents(bus)
    with pytest.raises(RuntimeError), context.db.write() as s:
        s.delete(s.get(Alert, alert_id))
        events.add(s, AlertEvent.purged(alert_id, utcnow()))
        raise RuntimeError("the change fails after its event was staged")
    assert [x.kind for x in relay.staged] == ["candidate", "purged"]  # staged, then rolled back
    assert [e.kind for e in local] == ["candidate"]  # the purge was never delivered
    with context.db.read() as s:
        assert _status(s, alert_id) == "candidate"


def test_without_a_relay_staging_writes_nothing_and_delivery_waits(context: AppContext) -> None:
    bus, local = AlertBus(), []
    bus.subscribe(local.append)
    event = AlertEvent.purged(1, utcnow())
    with context.db.write() as s:
        assert bus.stage(s, event) is event
        assert local == []
    bus.deliver(event)
    StagedEvents(None).deliver()  # no bus: nothing to announce
    assert local == [event]
