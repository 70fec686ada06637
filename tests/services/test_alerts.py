"""AlertStore and AlertBus on a real database: authority re-checked at write time, crop sealed,
audited with its input reference, events published."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from vigil.context import AppContext
from vigil.db.models import Alert, AuditEvent
from vigil.domain.enums import AuthorizationStatus
from vigil.errors import PermissionDenied
from vigil.pipeline.gallery import ActiveGallery
from vigil.services.alerts import AlertBus, AlertEvent, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
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
    assert alert.score == pytest.approx(0.91) and alert.threshold == context.settings.dlib.threshold
    assert alert.first_seen == cand.first_seen and alert.last_seen == cand.last_seen
    assert audit.target == f"alert:{alert_id}"
    assert audit.details["input"]["camera"] == "cam1"
    assert audit.details["input"]["template_id"] == match.entry.template_id
    assert audit.details["input"]["from"] == cand.first_seen.isoformat()
    assert audit.details["input"]["to"] == cand.last_seen.isoformat()
    (event,) = events
    assert isinstance(event, AlertEvent)
    assert (
        event.alert_id,
        event.kind,
        event.status,
        event.subject_name,
        event.watchlist,
        event.authorization_reference,
    ) == (alert_id, "candidate", "candidate", "Jane Roe", "missing", "ORD-7")


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
    with pytest.raises(PermissionDenied, match="ORD-7"):
        AlertStore(context.db, context.cipher, context.settings, bus).save(candidate(match, camera))
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
