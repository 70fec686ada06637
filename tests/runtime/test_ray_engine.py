"""RaySupervisor's collection rounds against a fake Ray (no cluster, tests/fake_ray.py): the
gallery goes out versioned, candidates come back and are stored once even when an
acknowledgement is lost, a revocation empties every actor's gallery (at once on an actor too busy
to keep up, which never gets more than one report and one take queued), stop kills the actors
and closes their sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from fake_ray import FakeRay
from vigil.config import CameraConfig, RuntimeConfig
from vigil.context import AppContext
from vigil.db.models import Alert, AlertSighting, AuditEvent, CameraSession, FaceCount
from vigil.domain.counts import MinuteCount
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, NotFound
from vigil.runtime.camera_link import ABANDON_SECONDS, CALL_SECONDS
from vigil.runtime.ray_engine import RaySupervisor
from vigil.services.alerts import AlertBus
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.camera_sessions import close_stale_camera_sessions
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.sources.worker import CameraState
from vigil.timeutil import utcnow
from vigil.types import (
    BBox,
    CandidateAlert,
    Embedding,
    Match,
    Quality,
    SightingUpdate,
    Track,
    ValidatedFace,
)


def _enrolled(ctx: AppContext) -> Match:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            "ORD-5", "missing_person", "Art 1", "Court", now + timedelta(days=1),
            valid_from=now - timedelta(hours=1),
        ),
        actor="test",
    )  # fmt: skip
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create("missing", "ORD-5", actor="test")
    vector = Embedding.normalised(np.arange(1, 129, dtype=np.float32), "dlib")
    wl.enroll("missing", "Jane Roe", [ValidatedFace(vector, Quality(1, 1, 1, 1), b"j", "a.jpg")],
              actor="test")  # fmt: skip
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib").refresh().entries
    return Match(entry, 0.9)


def _count(ctx: AppContext, model: Any) -> int:
    with ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture()
def engine(context: AppContext) -> tuple[RaySupervisor, FakeRay, list[AlertEvent]]:
    context.settings.runtime = RuntimeConfig(
        engine="ray", address="10.0.0.1:6379", poll_seconds=10.0, num_cpus_per_camera=2
    )
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    fake = FakeRay()
    supervisor = RaySupervisor(context, bus, ray=fake, clock=lambda: fake.now)
    yield supervisor, fake, events
    supervisor.stop_all()


def test_a_camera_actor_gets_the_gallery_and_its_candidates_are_stored_once(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, events = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    (options,) = fake.options_seen
    assert options["max_restarts"] == -1 and options["lifetime"] == "detached"
    assert options["num_cpus"] == 2 and options["name"] == "camera:gate"
    actor = fake.actors["gate"]
    assert actor.spec.settings.database_url is None
    supervisor.publisher.request()  # the enrollment is seen at the next check; ask for it now
    supervisor.collect()
    assert len(actor.gallery.snapshot().entries) == 1
    with pytest.raises(Conflict):
        supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    (status,) = supervisor.statuses()
    assert status.node == "10.0.0.7"
    assert supervisor.preview_jpeg("gate") == b"blurred"

    now = utcnow()
    actor.lose_acks = True  # the command center stores, then "dies" before the actor hears
    actor.outbox.save(CandidateAlert("gate", now - timedelta(seconds=2), now, match, b"j", 0.0))
    supervisor.collect()
    supervisor.collect()
    assert actor.outbox.pending == 1 and _count(context, Alert) == 1
    actor.lose_acks = False
    supervisor.collect()
    assert actor.outbox.pending == 0 and _count(context, Alert) == 1
    assert [e.kind for e in events] == ["candidate"]

    AuthorizationService(context.db, supervisor.store.bus).end(
        "ORD-5", AuthorizationStatus.revoked, actor="test"
    )
    supervisor.collect()  # the purge asked for an immediate check: the gallery is empty now
    assert actor.gallery.snapshot().entries == () and _count(context, Alert) == 0

    supervisor.stop_camera("gate")
    assert actor.stopped and fake.killed == ["gate"]
    assert supervisor.statuses() == []
    with context.db.read() as s:
        (session,) = s.scalars(select(CameraSession))
        assert session.stopped_at is not None
    with pytest.raises(NotFound):
        supervisor.stop_camera("gate")


def test_a_starved_actor_still_gets_the_revocation_without_answering_a_report(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    _enrolled(context)
    supervisor, fake, _ = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    actor = fake.actors["gate"]
    supervisor.publisher.request()
    supervisor.collect()
    assert len(actor.gallery.snapshot().entries) == 1

    actor.starved = True  # from now on it answers no report and no take
    AuthorizationService(context.db, supervisor.store.bus).end(
        "ORD-5", AuthorizationStatus.revoked, actor="test"
    )
    supervisor.publisher.request()  # no alert to purge: ask for the check the period would make
    supervisor.collect()
    assert actor.gallery.snapshot().entries == ()
    (status,) = supervisor.statuses()
    assert status.state == CameraState.CONNECTED  # silent for a moment: not unreachable yet
    fake.now += CALL_SECONDS + 1
    sent = []
    actor_set = actor.set_gallery
    actor.set_gallery = lambda release: sent.append(release) or actor_set(release)  # type: ignore[method-assign]
    supervisor.collect()  # nothing new and not due: the release is not sent again
    assert sent == []
    (status,) = supervisor.statuses()
    assert status.state == CameraState.RECONNECTING  # silent too long: shown as unreachable
    assert actor.queued("report", "take") == 2  # one of each, not one more per round


def test_a_starved_actor_keeps_one_call_queued_and_still_gets_the_revocation_at_once(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, _ = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    actor = fake.actors["gate"]
    supervisor.publisher.request()
    supervisor.collect()
    assert len(actor.gallery.snapshot().entries) == 1

    actor.starved = True  # from now on it runs one queued call per round: it cannot keep up
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    actor.outbox.save(CandidateAlert("gate", now - timedelta(seconds=2), now, match, b"j", 0.0))
    actor.outbox.write("gate", minute, MinuteCount(faces=3, tracks=1))
    queued = []
    for _ in range(40):
        supervisor.collect()
        actor.run(1)
        queued.append(actor.queued("report", "take"))
    assert max(queued) <= 2, f"calls piled up on the busy actor: {queued}"
    # what it handed over late was still collected, once
    assert _count(context, Alert) == 1 and actor.outbox.pending == 0
    with context.db.read() as s:
        assert [c.faces for c in s.scalars(select(FaceCount))] == [3]

    version = supervisor.publisher.version
    AuthorizationService(context.db, supervisor.store.bus).end(
        "ORD-5", AuthorizationStatus.revoked, actor="test"
    )
    supervisor.collect()  # the purge published the empty gallery: this round sends it
    release = actor.gallery.release
    assert release is not None and release.version == version + 1
    assert actor.gallery.snapshot().entries == ()


def test_an_abandoned_take_is_still_collected_once_if_it_answers_late(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, _ = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    actor = fake.actors["gate"]
    actor.starved = True
    now = utcnow()
    actor.outbox.save(CandidateAlert("gate", now - timedelta(seconds=2), now, match, b"j", 0.0))
    actor.outbox.write("gate", now.replace(second=0, microsecond=0), MinuteCount(faces=4))
    supervisor.collect()  # a report and a take queued, unanswered
    fake.now += ABANDON_SECONDS + 1
    supervisor.collect()  # both abandoned: asked again
    assert actor.queued("report", "take") == 4
    actor.run()  # the actor catches up: the first take handed over the counts
    supervisor.collect()
    actor.run()
    supervisor.collect()
    assert _count(context, Alert) == 1 and actor.outbox.pending == 0
    with context.db.read() as s:
        assert [c.faces for c in s.scalars(select(FaceCount))] == [4]


def test_stopping_all_cameras_does_not_abort_on_a_dead_actor(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, _ = engine
    for name in ("dead", "gate"):
        supervisor.start_camera(CameraConfig(name=name, url=f"rtsp://cam/{name}"))
    fake.actors["dead"].dead = True
    now = utcnow()
    gate = fake.actors["gate"]
    gate.outbox.save(CandidateAlert("gate", now - timedelta(seconds=2), now, match, b"j", 0.0))
    supervisor.stop_all()
    assert gate.stopped and sorted(fake.killed) == ["dead", "gate"]
    assert _count(context, Alert) == 1  # the live one's last delivery was stored
    with context.db.read() as s:
        assert all(r.stopped_at is not None for r in s.scalars(select(CameraSession)))


def test_a_new_command_center_adopts_running_actors_and_collects_what_they_kept(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    first, fake, _ = engine
    first.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    first.detach()  # as if it crashed: the actor runs on and keeps its candidates
    actor = fake.actors["gate"]
    now = utcnow()
    actor.outbox.save(CandidateAlert("gate", now - timedelta(seconds=2), now, match, b"j", 0.0))
    # Another process: another owner of camera sessions (AppContext.instance).
    second = RaySupervisor(replace(context, instance="server-2"), AlertBus(), ray=fake)
    try:
        second.collect()
        assert actor.outbox.pending == 0 and _count(context, Alert) == 1
        assert [s.camera for s in second.statuses()] == ["gate"]  # not the other namespace's
        second.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))  # records a session
        with pytest.raises(Conflict):
            second.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
        assert len(fake.options_seen) == 1  # no second actor was created
    finally:
        second.stop_all()
    with context.db.read() as s:
        rows = list(s.scalars(select(CameraSession).order_by(CameraSession.id)))
    assert [(r.owner, r.stopped_at is not None) for r in rows] == [
        (context.instance, False),  # the crashed server's: open until its heartbeat is stale
        ("server-2", True),
    ]
    stale = timedelta(seconds=context.settings.runtime.session_stale_seconds)
    later = rows[0].heartbeat_at + stale + timedelta(seconds=1)
    assert close_stale_camera_sessions(context.db, actor="t", stale_after=stale, now=later) == 1
    with context.db.read() as s:
        crashed = s.get(CameraSession, rows[0].id)
        assert crashed is not None and crashed.stopped_at == rows[0].heartbeat_at


def _sightings(ctx: AppContext) -> list[tuple[int, int, float]]:
    """(alert id, ordinal, score) of every stored sighting."""
    with ctx.db.read() as s:
        rows = s.scalars(
            select(AlertSighting).order_by(AlertSighting.alert_id, AlertSighting.ordinal)
        )
        return [(r.alert_id, r.ordinal, round(r.score, 3)) for r in rows]


def _audited(ctx: AppContext, action: str) -> int:
    with ctx.db.read() as s:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(s.scalar(query) or 0)


def test_sighting_updates_cross_the_wire_and_are_applied_once(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, events = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    actor = fake.actors["gate"]
    now = utcnow()
    opener = CandidateAlert("gate", now - timedelta(seconds=9), now - timedelta(seconds=6), match,
                            b"j", 0.0)  # fmt: skip
    second = CandidateAlert("gate", now - timedelta(seconds=4), now - timedelta(seconds=2),
                            Match(match.entry, 0.95), b"k", 0.0)  # fmt: skip
    alert = actor.outbox.save(opener)  # a provisional id: the command center's is not known yet
    assert alert is not None and actor.outbox.save_sighting(SightingUpdate(alert, 2, second))
    track = Track(7, "gate", second.first_seen, now, BBox(0, 0, 10, 10))
    actor.outbox.update_last_seen(alert, track, 2)
    actor.lose_acks = True  # applied, but the actor never hears: all of it comes again
    supervisor.collect()
    supervisor.collect()
    ((stored,),) = _ids(context)
    assert _sightings(context) == [(stored, 1, 0.9), (stored, 2, 0.95)]
    assert _audited(context, "alert.sighting") == 1 and _count(context, Alert) == 1
    with context.db.read() as s:
        row = s.scalars(select(AlertSighting).where(AlertSighting.ordinal == 2)).one()
        assert row.last_seen == now
    actor.lose_acks = False
    supervisor.collect()
    assert actor.outbox.take().empty
    assert [e.kind for e in events].count("candidate") == 1


def _ids(ctx: AppContext) -> list[tuple[int]]:
    with ctx.db.read() as s:
        return [(i,) for i in s.scalars(select(Alert.id).order_by(Alert.id))]


def test_a_new_track_of_a_decided_alert_opens_its_own_as_in_the_local_pipeline(
    context: AppContext, engine: tuple[RaySupervisor, FakeRay, list[AlertEvent]]
) -> None:
    match = _enrolled(context)
    supervisor, fake, _ = engine
    supervisor.start_camera(CameraConfig(name="gate", url="rtsp://cam/1"))
    actor = fake.actors["gate"]
    now = utcnow()
    opener = CandidateAlert("gate", now - timedelta(seconds=9), now - timedelta(seconds=6), match,
                            b"j", 0.0)  # fmt: skip
    alert = actor.outbox.save(opener)
    assert alert is not None
    supervisor.collect()
    ((first,),) = _ids(context)
    with context.db.write() as s:  # an operator rejected it meanwhile: it takes no sightings
        s.execute(update(Alert).where(Alert.id == first).values(status=AlertStatus.rejected))
    later = CandidateAlert("gate", now - timedelta(seconds=4), now - timedelta(seconds=2),
                           Match(match.entry, 0.8), b"k", 0.0)  # fmt: skip
    assert actor.outbox.save_sighting(SightingUpdate(alert, 2, later))  # not known yet: queued
    better = replace(later, match=Match(match.entry, 0.97))
    assert actor.outbox.save_sighting(SightingUpdate(alert, 2, better))  # its better shot
    actor.outbox.update_last_seen(
        alert, Track(8, "gate", later.first_seen, now, BBox(0, 0, 9, 9)), 2
    )
    actor.lose_acks = True  # applied, but the actor never hears: all of it comes again
    supervisor.collect()
    supervisor.collect()
    actor.lose_acks = False
    supervisor.collect()
    assert _audited(context, "alert.candidate") == 2 and _audited(context, "alert.sighting") == 1
    ((a,), (own,)) = _ids(context)
    assert a == first
    assert _sightings(context) == [(first, 1, 0.9), (own, 1, 0.97)]  # the track's own alert
    assert supervisor.store.delivered(f"{actor.outbox.incarnation}:{alert}/2") == own
    with context.db.read() as s:
        assert s.get(Alert, own).last_seen == now and s.get(Alert, first).last_seen < now
    # the receipt said the alert is closed: a further new track makes the pipeline open one
    assert not actor.outbox.save_sighting(SightingUpdate(alert, 3, later))
    assert actor.outbox.take().empty
