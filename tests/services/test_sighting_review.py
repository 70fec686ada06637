"""One sighting marked "not this person" on a real database (SQLite and PostgreSQL): kept as a
false sighting, the headline moves to the best one left, the last face cannot be rejected this
way, pending confirmations are reset (the two confirmers confirm the same faces), audited, and
announced as one event."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_alert_sightings import RIGHT, WRONG, cand, enrolled

from vigil.accountability.report import build_report
from vigil.accountability.report_render import render
from vigil.context import AppContext
from vigil.db.models import AlertSighting, AuditEvent
from vigil.domain.enums import AlertStatus
from vigil.errors import Conflict, InputError, NotFound
from vigil.services.alerts import AlertBus, AlertQueries, AlertStore
from vigil.services.reviews import ReviewService
from vigil.services.sighting_reviews import SightingReviewService
from vigil.timeutil import utcnow
from vigil.types import SightingUpdate

REASON = "a different man: beard and glasses"


@pytest.fixture()
def two_faces(context: AppContext):
    """The wanted person's track (0.47, ordinal 1), then a look-alike's at the same time (0.95,
    ordinal 2): the wrong face is the headline."""
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    match = enrolled(context)
    alert_id = store.save(cand(match, 0.47, RIGHT, 20, 10))
    assert store.save_sighting(
        SightingUpdate(alert_id, 2, cand(match, 0.95, WRONG, 15, 5), conflicting=True)
    )
    sightings = SightingReviewService(context.db, context.cipher, bus)
    return store, sightings, match, alert_id, events


def _audit(context: AppContext, action: str) -> list[AuditEvent]:
    with context.db.read() as s:
        q = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(s.scalars(q))


def test_rejecting_the_wrong_face_moves_the_headline_and_keeps_it_as_a_false_sighting(
    context: AppContext, two_faces
) -> None:
    _store, sightings, _match, alert_id, events = two_faces
    queries = AlertQueries(context.db, context.cipher)
    assert queries.get(alert_id).score == 0.95
    assert queries.crop(alert_id, viewer="ann") == WRONG

    public = sightings.reject(alert_id, 2, "ann", f"  {REASON} ", credential="session:7")

    assert public.score == 0.47 and public.status is AlertStatus.candidate
    assert [(x.ordinal, x.rejected) for x in public.sightings] == [(1, False), (2, True)]
    kept = public.sightings[1]
    assert (kept.score, kept.rejected_by, kept.rejection_reason) == (0.95, "ann", REASON)
    assert kept.rejected_at is not None and kept.has_crop  # stored, not deleted
    assert queries.crop(alert_id, viewer="ann") == RIGHT  # the alert's own crop moved too
    assert queries.sighting_crop(alert_id, kept.id, viewer="ann") == WRONG
    assert queries.get(alert_id) == public
    (record,) = _audit(context, "alert.sighting_reject")
    assert record.actor == "ann" and record.target == f"alert:{alert_id}"
    assert record.details["ordinal"] == 2 and record.details["headline_score"] == 0.47
    assert record.details["credential"] == "session:7"
    assert "beard" not in json.dumps(record.details)  # free text about a person stays out
    assert [e.kind for e in events] == ["candidate", "updated", "updated"]
    wire = json.loads(json.dumps(events[-1].wire()))
    assert wire["alert"]["score"] == 0.47
    assert [x["rejected"] for x in wire["alert"]["sightings"]] == [False, True]


def test_the_last_face_cannot_be_rejected_alone(context: AppContext, two_faces) -> None:
    _store, sightings, _match, alert_id, events = two_faces
    sightings.reject(alert_id, 2, "ann", REASON)
    with pytest.raises(Conflict, match="only face") as refused:
        sightings.reject(alert_id, 1, "bob", "not her either")
    assert "reject the whole alert" in (refused.value.hint or "")
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert [x.rejected for x in public.sightings] == [False, True] and public.score == 0.47
    assert len(events) == 3  # the refusal announced nothing


@pytest.mark.parametrize(
    ("ordinal", "reason", "error", "message"),
    [
        (2, "   ", InputError, "needs a reason"),
        (2, "x" * 2001, InputError, "longer than"),
        (9, REASON, NotFound, "no sighting 9"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    context: AppContext, two_faces, ordinal: int, reason: str, error: type, message: str
) -> None:
    _store, sightings, _match, alert_id, _events = two_faces
    with pytest.raises(error, match=message):
        sightings.reject(alert_id, ordinal, "ann", reason)
    assert AlertQueries(context.db, context.cipher).get(alert_id).score == 0.95


def test_a_rejected_sighting_or_a_decided_alert_cannot_be_rejected_again(
    context: AppContext, two_faces
) -> None:
    _store, sightings, _match, alert_id, _events = two_faces
    sightings.reject(alert_id, 2, "ann", REASON)
    with pytest.raises(Conflict, match="already rejected by ann"):
        sightings.reject(alert_id, 2, "bob", REASON)
    ReviewService(context.db).review(alert_id, "bob", "reject", "not her")
    with pytest.raises(Conflict, match="decided alert"):
        sightings.reject(alert_id, 1, "ann", REASON)


def test_rejecting_a_sighting_resets_a_pending_confirmation(context: AppContext, two_faces) -> None:
    _store, sightings, _match, alert_id, _events = two_faces
    reviews = ReviewService(context.db, AlertBus())
    first = reviews.review(alert_id, "ann", "confirm")
    ids = sorted(x.id for x in first.sightings)
    assert first.status is AlertStatus.pending_second and first.reviews[0].sightings == tuple(ids)

    public = sightings.reject(alert_id, 2, "bob", REASON)
    assert public.status is AlertStatus.candidate and public.confirmations == 0
    assert public.reviews[0].superseded and public.confirmed_by == ()
    (reset,) = _audit(context, "alert.confirmations_reset")
    assert reset.actor == "bob" and reset.details["confirmations_reset"] == ["ann"]
    assert reset.details["why"] == "sighting_rejected"

    again = reviews.review(alert_id, "ann", "confirm")  # ann must confirm the faces left
    assert again.status is AlertStatus.pending_second
    done = reviews.review(alert_id, "bob", "confirm")
    right = next(x.id for x in done.sightings if not x.rejected)
    assert done.status is AlertStatus.confirmed and done.confirmed_by == ("ann", "bob")
    assert [r.sightings for r in done.reviews if not r.superseded] == [(right,), (right,)]


def test_a_new_face_after_a_confirmation_resets_it_but_a_better_shot_does_not(
    context: AppContext, two_faces
) -> None:
    store, _sightings, match, alert_id, _events = two_faces
    reviews = ReviewService(context.db, AlertBus())
    reviews.review(alert_id, "ann", "confirm")
    assert store.save_sighting(SightingUpdate(alert_id, 1, cand(match, 0.5, RIGHT, 20, 4)))
    assert AlertQueries(context.db, context.cipher).get(alert_id).confirmations == 1
    assert store.save_sighting(SightingUpdate(alert_id, 3, cand(match, 0.6, RIGHT, 3, 1)))
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert public.status is AlertStatus.candidate and public.confirmations == 0
    (reset,) = _audit(context, "alert.confirmations_reset")
    assert reset.details["why"] == "sighting_added" and reset.actor == "system:pipeline"


def test_a_better_shot_of_a_rejected_track_never_takes_the_headline_back(
    context: AppContext, two_faces
) -> None:
    store, sightings, match, alert_id, _events = two_faces
    sightings.reject(alert_id, 2, "ann", REASON)
    assert store.save_sighting(SightingUpdate(alert_id, 2, cand(match, 0.99, WRONG, 15, 2)))
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert (
        public.score == 0.47
        and AlertQueries(context.db, context.cipher).crop(alert_id, viewer="ann") == RIGHT
    )
    assert [(x.ordinal, x.score, x.rejected) for x in public.sightings] == [
        (1, 0.47, False),
        (2, 0.99, True),
    ]
    with context.db.read() as s:
        rows = s.scalars(select(AlertSighting).order_by(AlertSighting.ordinal)).all()
    assert rows[0].template_id == match.entry.template_id


def test_the_transparency_report_counts_false_sightings(context: AppContext, two_faces) -> None:
    _store, sightings, _match, alert_id, _events = two_faces
    now = utcnow()
    period = (now - timedelta(hours=1), now + timedelta(hours=1))
    before = build_report(context.db, context.settings, *period)
    assert before.total.false_sightings == 0
    sightings.reject(alert_id, 2, "ann", REASON)
    after = build_report(context.db, context.settings, *period)
    assert [(c.camera, c.false_sightings) for c in after.cameras] == [("cam1", 1)]
    assert after.total.false_sightings == 1 and after.total.rejected == 0  # not a false alert
    assert "False sightings" in render(after, "html")
    assert "false_sightings,1" in render(after, "csv")
