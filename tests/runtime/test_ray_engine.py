"""RaySupervisor's collection rounds against a fake Ray (no cluster): the gallery goes out
versioned, candidates come back and are stored once even when an acknowledgement is lost, a
revocation empties every actor's gallery, stop kills the actor and closes its session."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from vigil.config import CameraConfig, RuntimeConfig
from vigil.context import AppContext
from vigil.db.models import Alert, AlertSighting, AuditEvent, CameraSession
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, NotFound
from vigil.runtime.camera_actor import CandidateOutbox, PublishedGallery
from vigil.runtime.ray_engine import RaySupervisor
from vigil.runtime.wire import ActorReport, ActorSpec, GalleryRelease, Receipt
from vigil.services.alerts import AlertBus
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.camera_sessions import close_stale_camera_sessions
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.sources.worker import CameraState, CameraStatus
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

STARVED = object()  # the "object ref" of a report that times out


class _Method:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> Any:
        return self.fn(*args)  # the "object ref" is the value itself


@dataclass
class FakeActor:
    spec: ActorSpec
    outbox: CandidateOutbox = field(default_factory=lambda: CandidateOutbox(10, "inc1"))
    gallery: PublishedGallery = field(default_factory=lambda: PublishedGallery("dlib"))
    lose_acks: bool = False
    stopped: bool = False
    starved: bool = False  # too busy to answer a report within the round's wait

    def report(self) -> Any:
        if self.starved:
            return STARVED
        release = self.gallery.release
        now = utcnow()
        status = CameraStatus(
            self.spec.camera.name, "x", "file", CameraState.CONNECTED, now, 5, 5, 1, 1, 0, 0,
            0, 0, None, now, None, 5.0, node="10.0.0.7",
        )  # fmt: skip
        return ActorReport(
            status, "n1", "10.0.0.7", self.outbox.incarnation,
            release.version if release else 0, release.origin if release else "",
            release.published_at if release else None,
            len(release.snapshot.entries) if release else 0,
            self.outbox.pending, self.outbox.dropped, 1, None,
        )  # fmt: skip

    def take(self, limit: int) -> Any:
        return self.outbox.take(limit)

    def acknowledge(self, receipt: Receipt) -> None:
        if not self.lose_acks:
            self.outbox.acknowledge(receipt)

    def set_gallery(self, release: GalleryRelease) -> int:
        self.gallery.install(release)
        return release.version

    def preview_jpeg(self, blur: bool) -> bytes:
        return b"blurred" if blur else b"raw"

    def stop(self) -> bool:
        self.stopped = True
        return True


class FakeHandle:
    def __init__(self, actor: FakeActor) -> None:
        self.actor = actor

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self.actor, name))


class FakeRay:
    def __init__(self) -> None:
        self.actors: dict[str, FakeActor] = {}
        self.options_seen: list[dict[str, Any]] = []
        self.killed: list[str] = []
        self.util = self

    def put(self, value: Any) -> Any:
        return value

    def get(self, ref: Any, timeout: float | None = None) -> Any:
        if ref is STARVED:
            raise TimeoutError("the actor did not answer in time")
        return ref

    def kill(self, handle: FakeHandle, no_restart: bool) -> None:
        self.killed.append(handle.actor.spec.camera.name)

    def list_named_actors(self, all_namespaces: bool) -> list[dict[str, str]]:
        return [{"name": f"camera:{n}", "namespace": "vigil"} for n in self.actors] + [
            {"name": "camera:other", "namespace": "another-deployment"}
        ]

    def get_actor(self, name: str, namespace: str) -> FakeHandle:
        return FakeHandle(self.actors[name.removeprefix("camera:")])

    def remote(self, cls: type) -> Any:
        fake = self

        class Factory:
            def options(self, **options: Any) -> Any:
                fake.options_seen.append(options)
                return self

            def remote(self, spec: ActorSpec) -> FakeHandle:
                actor = FakeActor(spec)
                fake.actors[spec.camera.name] = actor
                return FakeHandle(actor)

        return Factory()


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
    supervisor = RaySupervisor(context, bus, ray=fake)
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

    actor.starved = True  # every report now misses the round's wait
    AuthorizationService(context.db, supervisor.store.bus).end(
        "ORD-5", AuthorizationStatus.revoked, actor="test"
    )
    supervisor.publisher.request()  # no alert to purge: ask for the check the period would make
    supervisor.collect()
    assert actor.gallery.snapshot().entries == ()
    (status,) = supervisor.statuses()
    assert status.state == CameraState.RECONNECTING  # shown as unreachable meanwhile
    sent = []
    actor_set = actor.set_gallery
    actor.set_gallery = lambda release: sent.append(release) or actor_set(release)  # type: ignore[method-assign]
    supervisor.collect()  # nothing new and not due: the release is not sent again
    assert sent == []


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
