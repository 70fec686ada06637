"""AlertStore and AlertBus on a real database: authority re-checked at write time, crop sealed,
audited with its input reference, events published."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy import select

from vigil.accountability.threshold import threshold_for_size
from vigil.context import AppContext
from vigil.db.models import Alert, AuditEvent
from vigil.domain.enums import AuthorizationStatus
from vigil.domain.events import AlertEvent, AlertPublic, outbound_payload
from vigil.errors import Conflict, PermissionDenied
from vigil.services.alerts import AlertBus, AlertQueries, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.reviews import ReviewService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, Match, Quality, ValidatedFace

CROP = b"\xff\xd8\xff\xe0 a face crop \xff\xd9"


def enrolled(ctx: AppContext, *, cameras=None) -> Match:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            "ORD-7",
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=1),
            valid_from=now - timedelta(hours=1),
            cameras=cameras,
        ),
        actor="test",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create("missing", "ORD-7", actor="test")
    vector = Embedding.normalised(np.arange(1, 129, dtype=np.float32), "dlib")
    wl.enroll(
        "missing",
        "Jane Roe",
        [ValidatedFace(vector, Quality(1, 1, 1, 1), b"jpg", "a.jpg")],
        actor="test",
    )
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib").refresh().entries
    return Match(entry, 0.91)


def candidate(match: Match, camera: str = "cam1", seconds_ago: float = 5) -> CandidateAlert:
    now = utcnow()
    return CandidateAlert(
        camera, now - timedelta(seconds=seconds_ago), now - timedelta(seconds=1), match, CROP, 0.0
    )


def test_save_stores_a_sealed_crop_audits_the_input_and_publishes(context: AppContext) -> None:
    match = enrolled(context)
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    cand = candidate(match)
    alert_id = AlertStore(context.db, context.cipher, context.settings, bus).save(cand)
    with context.db.read() as s:
        alert = s.get(Alert, alert_id)
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "alert.candidate")).one()
    assert alert.crop != CROP and CROP not in alert.crop and alert.crop_encrypted
    assert context.cipher.open(alert.crop, f"alert:{alert_id}".encode()) == CROP
    assert (alert.camera, alert.template_id, alert.pack) == (
        "cam1",
        match.entry.template_id,
        "dlib",
    )
    dlib = context.settings.dlib  # one person enrolled: the ladder's N = 1 point is in force
    in_force = threshold_for_size(dlib.threshold, dlib.threshold_by_watchlist_size, 1)
    assert alert.score == pytest.approx(0.91) and alert.threshold == in_force
    assert alert.first_seen == cand.first_seen and alert.last_seen == cand.last_seen
    assert audit.target == f"alert:{alert_id}"
    assert audit.details["input"]["camera"] == "cam1"
    assert audit.details["input"]["template_id"] == match.entry.template_id
    assert audit.details["input"]["from"] == cand.first_seen.isoformat()
    assert audit.details["input"]["to"] == cand.last_seen.isoformat()
    (event,) = events
    assert isinstance(event, AlertEvent) and event.alert is not None
    public = event.alert
    assert (
        event.alert_id,
        event.kind,
        public.status,
        public.subject_name,
        public.watchlist,
        public.authorization_reference,
        public.purpose,
        public.has_crop,
        public.confirmations,
    ) == (
        alert_id,
        "candidate",
        "candidate",
        "Jane Roe",
        "missing",
        "ORD-7",
        "missing_person",
        True,
        0,
    )
    assert public == AlertQueries(context.db, context.cipher).get(alert_id)


@pytest.mark.parametrize(
    ("change", "camera"),
    [
        ("revoke", "cam1"),
        ("refuse", "cam1"),
        ("expire", "cam1"),
        (None, "cam9"),  # out of the authorization's camera scope
    ],
)
def test_save_refuses_when_the_authority_no_longer_holds(
    context: AppContext, change, camera
) -> None:
    match = enrolled(context, cameras=("cam1",))
    if change in ("revoke", "refuse"):
        status = AuthorizationStatus.revoked if change == "revoke" else AuthorizationStatus.refused
        with context.db.write() as s:  # status only, so that the subject row still exists
            from vigil.repositories.authorizations import AuthorizationRepo

            AuthorizationRepo(s).get("ORD-7").status = status
    elif change == "expire":
        with context.db.write() as s:
            from vigil.repositories.authorizations import AuthorizationRepo

            AuthorizationRepo(s).get("ORD-7").expires_at = utcnow() - timedelta(seconds=3)
    events: list[AlertEvent] = []
    bus = AlertBus()
    bus.subscribe(events.append)
    # The message names the authorization by id, never by its reference (it reaches the logs).
    with pytest.raises(PermissionDenied, match=r"authorization \d+ .*candidate was discarded") as e:
        AlertStore(context.db, context.cipher, context.settings, bus).save(candidate(match, camera))
    assert "ORD-7" not in str(e.value)
    with context.db.read() as s:
        assert s.scalars(select(Alert)).all() == []
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "alert.candidate")).all() == []
        )
    assert events == []


def test_update_last_seen_moves_forward_only_and_publishes(context: AppContext) -> None:
    match = enrolled(context)
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    cand = candidate(match)
    alert_id = store.save(cand)
    store.update_last_seen(alert_id, cand.last_seen + timedelta(seconds=30))
    store.update_last_seen(alert_id, cand.last_seen - timedelta(seconds=30))
    with context.db.read() as s:
        assert s.get(Alert, alert_id).last_seen == cand.last_seen + timedelta(seconds=30)
    assert [e.kind for e in events] == ["candidate", "updated", "updated"]
    assert events[1].alert is not None
    assert events[1].alert.last_seen == cand.last_seen + timedelta(seconds=30)
    store.update_last_seen(999, cand.last_seen)  # purged meanwhile: nothing to do, no event
    assert len(events) == 3


def test_bus_unsubscribe_and_a_failing_subscriber_does_not_stop_others(context: AppContext) -> None:
    bus, got = AlertBus(), []

    def broken(event: AlertEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    match = enrolled(context)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    store.save(candidate(match))
    assert len(got) == 1
    unsubscribe()
    store.save(candidate(match))
    assert len(got) == 1


def _events_of(bus: AlertBus) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    bus.subscribe(events.append)
    return events


def test_reviews_made_by_a_service_call_publish_one_event_each(context: AppContext) -> None:
    bus = AlertBus()
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    first, second = store.save(candidate(enrolled(context))), None
    second = store.save(candidate(_same_match(context)))
    events = _events_of(bus)
    reviews = ReviewService(context.db, bus)
    returned = reviews.review(first, "ann", "confirm")
    reviews.review(first, "bob", "confirm")
    reviews.review(second, "ann", "reject", "not her")
    assert [(e.kind, e.alert_id) for e in events] == [
        ("reviewed", first),
        ("confirmed", first),
        ("rejected", second),
    ]
    assert returned == events[0].alert
    confirmed = events[1].alert
    assert confirmed is not None and confirmed.status == "confirmed"
    assert confirmed.confirmed_by == ("ann", "bob") and confirmed.confirmations == 2
    assert [r.username for r in confirmed.reviews] == ["ann", "bob"]
    assert confirmed.decided_at is not None
    assert events[2].alert is not None and events[2].alert.reviews[0].reason == "not her"


def _same_match(context: AppContext) -> Match:
    (entry,) = ActiveGallery(context.db, context.cipher, context.settings, "dlib").refresh().entries
    return Match(entry, 0.88)


def test_a_refused_review_publishes_nothing(context: AppContext) -> None:
    bus = AlertBus()
    alert_id = AlertStore(context.db, context.cipher, context.settings, bus).save(
        candidate(enrolled(context))
    )
    events = _events_of(bus)
    reviews = ReviewService(context.db, bus)
    reviews.review(alert_id, "ann", "confirm")
    with pytest.raises(Conflict):
        reviews.review(alert_id, "ann", "confirm")
    assert [e.kind for e in events] == ["reviewed"]


def test_revoking_the_authorization_publishes_purged_events_without_personal_data(
    context: AppContext,
) -> None:
    bus = AlertBus()
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    match = enrolled(context)
    ids = [store.save(candidate(match)), store.save(candidate(match))]
    events = _events_of(bus)
    AuthorizationService(context.db, bus).end("ORD-7", AuthorizationStatus.revoked, actor="t")
    assert [(e.kind, e.alert_id, e.alert) for e in events] == [
        ("purged", ids[0], None),
        ("purged", ids[1], None),
    ]
    assert "Jane" not in json.dumps(events[0].wire())


def test_the_alert_list_loads_names_without_a_query_per_alert(context: AppContext) -> None:
    store = AlertStore(context.db, context.cipher, context.settings, AlertBus())
    match = enrolled(context)
    for _ in range(6):
        store.save(candidate(match))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa_event.listen(context.db.engine, "before_cursor_execute", count)
    try:
        listed = AlertQueries(context.db, context.cipher).list(limit=50)
    finally:
        sa_event.remove(context.db.engine, "before_cursor_execute", count)
    assert len(listed) == 6 and {a.subject_name for a in listed} == {"Jane Roe"}
    # names (one join), reviews, sightings (no crop bytes): three whatever the page size
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 3


def test_awaiting_counts_what_this_user_may_still_review(context: AppContext) -> None:
    bus = AlertBus()
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    match = enrolled(context)
    a, b, c = (store.save(candidate(match)) for _ in range(3))
    reviews = ReviewService(context.db, bus)
    reviews.review(a, "ann", "confirm")  # pending_second: waits for bob, not for ann
    reviews.review(c, "bob", "reject", "not her")  # decided: waits for nobody
    queries = AlertQueries(context.db, context.cipher)
    assert (queries.awaiting("ann"), queries.awaiting("bob")) == (1, 2)
    assert b > 0


@pytest.mark.parametrize(
    ("kind", "with_alert", "error"),
    [
        ("purged", True, "only the alert id"),
        ("candidate", False, "needs the alert"),
        ("confirmed", False, "needs the alert"),
        ("exploded", True, "kind"),
    ],
)
def test_event_shapes_are_checked(kind: str, with_alert: bool, error: str) -> None:
    alert = _public(7)
    with pytest.raises(ValidationError, match=error):
        AlertEvent(kind=kind, alert_id=7, alert=alert if with_alert else None, at=utcnow())


def test_events_and_alerts_are_immutable() -> None:
    event = AlertEvent.of("candidate", _public(7), utcnow())
    with pytest.raises(ValidationError):
        event.kind = "updated"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.alert.score = 1.0  # type: ignore[misc,union-attr]


@pytest.mark.parametrize("status", ["candidate", "pending_second", "rejected"])
def test_only_confirmed_alerts_have_an_outbound_payload(status: str) -> None:
    with pytest.raises(ValueError, match="only confirmed"):
        outbound_payload(_public(7, status=status))


def test_the_outbound_payload_is_the_public_shape_without_images() -> None:
    alert = _public(7, status="confirmed")
    payload = outbound_payload(alert)
    assert payload["event"] == "alert.confirmed" and payload["alert_id"] == 7
    assert payload["alert"] == alert.model_dump(mode="json")
    flat = json.dumps(payload)
    assert not {"crop", "photo", "embedding", "vector", "template"} & set(
        payload["alert"]  # type: ignore[arg-type]
    )
    assert "ffd8" not in flat


def _public(alert_id: int, status: str = "candidate") -> AlertPublic:
    t = utcnow()
    return AlertPublic(
        id=alert_id,
        camera="cam1",
        subject_id=1,
        subject_name="Jane Roe",
        watchlist="missing",
        authorization_reference="ORD-7",
        purpose="missing_person",
        score=0.9,
        threshold=0.5,
        pack="dlib",
        status=status,
        first_seen=t,
        last_seen=t,
        created_at=t,
        decided_at=t if status == "confirmed" else None,
        has_crop=True,
    )
