"""The Ray engine's parts that need no cluster: runtime config, the actor's candidate outbox and
gallery, the command center's gallery publisher, and storing a candidate once per delivery key."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from vigil.config import RuntimeConfig, Settings
from vigil.context import AppContext
from vigil.db.models import Alert, AlertSighting, AuditEvent
from vigil.domain.counts import MinuteCount
from vigil.domain.events import AlertEvent
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.runtime.camera_actor import CandidateOutbox, PublishedGallery
from vigil.runtime.cluster_status import build_status
from vigil.runtime.engine import build_engine
from vigil.runtime.gallery_publisher import GalleryPublisher
from vigil.runtime.ray_cluster import NodeInfo
from vigil.runtime.supervisor import Supervisor
from vigil.runtime.wire import (
    ActorReport,
    GalleryRelease,
    LastSeen,
    Receipt,
    WireSighting,
    actor_settings,
)
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.sources.worker import CameraState, CameraStatus
from vigil.timeutil import utcnow
from vigil.types import (
    BBox,
    CandidateAlert,
    Embedding,
    GalleryEntry,
    Match,
    Quality,
    SightingUpdate,
    Track,
    ValidatedFace,
)
from vigil.web.telemetry import VigilMetrics

NOW = utcnow()


def _entry(template_id: int) -> GalleryEntry:
    return GalleryEntry(
        template_id, 1, "Jane Roe", 1, "missing", 1, "ORD-1", NOW, NOW + timedelta(days=1), None
    )


def _candidate(template_id: int = 1) -> CandidateAlert:
    return CandidateAlert("cam", NOW, NOW, Match(_entry(template_id), 0.9), b"jpg", 0.0)


def _track(last_seen_s: float) -> Track:
    return Track(1, "cam", NOW, NOW + timedelta(seconds=last_seen_s), BBox(0, 0, 10, 10))


def _snapshot(*template_ids: int) -> GallerySnapshot:
    index = NumpyIndex()
    index.build(np.ones((len(template_ids), 4), np.float32))
    return GallerySnapshot(tuple(_entry(t) for t in template_ids), index, 0.5, "dlib")


# -- config ------------------------------------------------------------------------------------
def test_runtime_config_defaults_to_the_local_engine() -> None:
    config = Settings().runtime
    assert config.engine == "local" and config.address is None
    assert config.num_cpus_per_camera == 1.0
    assert config.gallery_publish_seconds <= 60


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"engine": "spark"}, "Input should be 'local' or 'ray'"),
        ({"engine": "ray"}, "needs runtime.address"),
        ({"engine": "ray", "address": "no-port"}, "should match pattern"),
        ({"gallery_publish_seconds": 61}, "less than or equal to 60"),
        ({"num_cpus_per_camera": 0}, "greater than 0"),
        ({"pending_candidates": 0}, "greater than or equal to 1"),
        ({"speed": 1}, "Extra inputs are not permitted"),
    ],
)
def test_runtime_config_refuses(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuntimeConfig.model_validate(values)


def test_actor_settings_carry_no_secrets() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://vigil:pw@db/vigil",
        server={"secret_key": SecretStr("s" * 40)},
    )
    stripped = actor_settings(settings)
    assert stripped.database_url is None and stripped.server.secret_key is None
    assert stripped.tracking == settings.tracking and stripped.model_pack == settings.model_pack


def test_the_local_engine_is_todays_supervisor(context: AppContext) -> None:
    assert isinstance(build_engine(context, AlertBus()), Supervisor)


# -- the actor's outbox and gallery ------------------------------------------------------------
def test_outbox_keeps_candidates_until_acknowledged_with_unique_keys() -> None:
    outbox = CandidateOutbox(limit=10, incarnation="a1")
    first, second = outbox.save(_candidate()), outbox.save(_candidate())
    assert (first, second) == (1, 2)
    taken = outbox.take()
    assert [c.key for c in taken.candidates] == ["a1:1", "a1:2"]
    assert [c.key for c in outbox.take().candidates] == ["a1:1", "a1:2"]  # not yet stored
    outbox.acknowledge(Receipt(keys=("a1:1",)))
    assert [c.key for c in outbox.take().candidates] == ["a1:2"]
    assert outbox.pending == 1 and outbox.dropped == 0
    assert outbox.raised == 2  # acknowledging forgets candidates, not that they were raised
    assert CandidateOutbox(limit=1).incarnation != CandidateOutbox(limit=1).incarnation


def test_outbox_is_bounded_and_counts_drops() -> None:
    outbox = CandidateOutbox(limit=2, incarnation="b")
    for _ in range(5):
        outbox.save(_candidate())
    assert [c.key for c in outbox.take().candidates] == ["b:4", "b:5"]
    assert outbox.dropped == 3
    with pytest.raises(ValueError, match="at least 1"):
        CandidateOutbox(limit=0)


def test_outbox_last_seen_is_acknowledged_only_if_unchanged_and_counts_go_once() -> None:
    outbox = CandidateOutbox(limit=5, incarnation="c")
    seq = outbox.save(_candidate())
    assert seq is not None
    outbox.update_last_seen(seq, _track(1))
    sent = outbox.take()
    outbox.update_last_seen(seq, _track(2))  # moved on while the command center stored it
    outbox.acknowledge(Receipt(keys=("c:1",), last_seen=sent.last_seen))
    assert outbox.take().last_seen == (LastSeen("c:1", NOW + timedelta(seconds=2)),)
    outbox.write("cam", NOW, MinuteCount(faces=3))
    assert [c.counts.faces for c in outbox.take().counts] == [3]
    assert outbox.take().counts == ()


def test_outbox_queues_sightings_under_the_alerts_key_until_acknowledged() -> None:
    outbox = CandidateOutbox(limit=5, incarnation="d")
    alert = outbox.save(_candidate())
    assert alert == 1
    assert outbox.save_sighting(SightingUpdate(alert, 2, _candidate(2), conflicting=True))
    assert outbox.save_sighting(SightingUpdate(alert, 2, _candidate(3)))  # a better shot
    assert outbox.save_sighting(SightingUpdate(alert, 1, _candidate(4)))  # the opener's
    outbox.update_last_seen(alert, _track(4), 2)
    sent = outbox.take()
    assert sent.sightings == (
        WireSighting("d:s1", "d:1", 2, _candidate(2), conflicting=True, joins=True),
        WireSighting("d:s2", "d:1", 2, _candidate(3), joins=False),
        WireSighting("d:s3", "d:1", 1, _candidate(4), joins=False),
    )
    assert sent.sightings[0].fallback_key == "d:1/2"
    assert sent.last_seen == (LastSeen("d:1", NOW + timedelta(seconds=4), 2),)
    outbox.acknowledge(Receipt(keys=("d:1",), last_seen=sent.last_seen, sightings=("d:s1",)))
    left = outbox.take()
    assert [u.key for u in left.sightings] == ["d:s2", "d:s3"] and left.last_seen == ()
    assert outbox.raised == 4  # the candidate and its 3 sighting updates


def test_outbox_refuses_new_tracks_of_a_closed_alert_but_still_sends_better_shots() -> None:
    outbox = CandidateOutbox(limit=5, incarnation="e")
    alert = outbox.save(_candidate())
    assert alert is not None and outbox.save_sighting(SightingUpdate(alert, 2, _candidate()))
    outbox.acknowledge(Receipt(keys=("e:1",), sightings=("e:s1",), closed=("e:1",)))
    assert not outbox.save_sighting(SightingUpdate(alert, 3, _candidate()))  # new track: False
    assert outbox.raised == 2  # a refused sighting is no match raised here (the pipeline's is)
    assert outbox.save_sighting(SightingUpdate(alert, 2, _candidate()))  # its sent track's shot
    assert [(u.ordinal, u.joins) for u in outbox.take().sightings] == [(2, False)]


def test_outbox_bounds_sightings_and_holds_back_those_of_candidates_not_yet_sent() -> None:
    outbox = CandidateOutbox(limit=2, incarnation="f")
    first, second = outbox.save(_candidate()), outbox.save(_candidate())
    assert first is not None and second is not None
    for ordinal in (2, 3, 4):
        outbox.save_sighting(SightingUpdate(first, ordinal, _candidate()))
    assert outbox.dropped_sightings == 1 and outbox.dropped == 0
    outbox.save_sighting(SightingUpdate(second, 2, _candidate()))
    outbox.update_last_seen(second, _track(1), 2)
    assert outbox.dropped_sightings == 2
    batch = outbox.take(limit=1)  # "f:2" waits for the next round: so do its updates
    assert [c.key for c in batch.candidates] == ["f:1"]
    assert [u.key for u in batch.sightings] == ["f:s3"] and batch.last_seen == ()
    assert [u.key for u in outbox.take().sightings] == ["f:s3", "f:s4"]
    assert len(outbox.take().last_seen) == 1


def test_published_gallery_matches_nothing_until_a_release_and_keeps_the_newest() -> None:
    gallery = PublishedGallery("dlib")
    assert gallery.snapshot().entries == ()
    assert gallery.install(GalleryRelease(2, _snapshot(1, 2), NOW, "cc1"))
    assert not gallery.install(GalleryRelease(1, _snapshot(1), NOW, "cc1"))  # late, older
    assert len(gallery.snapshot().entries) == 2
    assert gallery.install(GalleryRelease(1, _snapshot(3), NOW, "cc2"))  # a new command center
    assert [e.template_id for e in gallery.snapshot().entries] == [3]


# -- the command center's publisher ------------------------------------------------------------
class FakeGallery:
    def __init__(self, *snapshots: GallerySnapshot) -> None:
        self.snapshots = list(snapshots)
        self.loads = 0

    def refresh(self) -> GallerySnapshot:
        self.loads += 1
        return self.snapshots[min(self.loads, len(self.snapshots)) - 1]


def test_publisher_versions_changes_and_resends_periodically() -> None:
    clock = [0.0]
    gallery = FakeGallery(_snapshot(1, 2), _snapshot(1, 2), _snapshot(1))
    put: list[GalleryRelease] = []
    publisher = GalleryPublisher(
        gallery,  # type: ignore[arg-type]
        lambda r: put.append(r) or len(put),
        check_seconds=2.0,
        publish_seconds=30.0,
        clock=lambda: clock[0],
    )
    first = publisher.publication()
    assert (first.release.version, first.changed, first.ref) == (1, True, 1)
    clock[0] = 1.0
    assert not publisher.publication().changed and gallery.loads == 1  # not checked yet
    clock[0] = 3.0
    same = publisher.publication()
    assert (same.release.version, same.changed, same.due) == (1, False, False)
    publisher.request()  # a revocation: checked at once
    clock[0] = 3.5
    smaller = publisher.publication()
    assert (smaller.release.version, smaller.changed) == (2, True)
    assert [len(r.snapshot.entries) for r in put] == [2, 1]
    clock[0] = 40.0
    assert publisher.publication().due


def test_publisher_retries_a_failed_publication_at_the_next_round() -> None:
    clock = [0.0]
    put: list[GalleryRelease] = []
    failures = [RuntimeError("object store full")]

    def flaky_put(release: GalleryRelease) -> int:
        if failures:
            raise failures.pop()
        put.append(release)
        return len(put)

    publisher = GalleryPublisher(
        FakeGallery(_snapshot(1)),  # type: ignore[arg-type]
        flaky_put,
        check_seconds=2.0,
        publish_seconds=30.0,
        clock=lambda: clock[0],
    )
    with pytest.raises(RuntimeError, match="object store full"):
        publisher.publication()
    clock[0] = 0.2  # the next round, well within check_seconds: tried again, not stuck
    retried = publisher.publication()
    assert (retried.release.version, retried.changed, retried.ref) == (1, True, 1)


# -- storing a candidate once per delivery key ---------------------------------------------------
def _enrolled(ctx: AppContext) -> Match:
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            "ORD-9", "missing_person", "Art 1", "Court", NOW + timedelta(days=1),
            valid_from=NOW - timedelta(hours=1),
        ),
        actor="test",
    )  # fmt: skip
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create("missing", "ORD-9", actor="test")
    vector = Embedding.normalised(np.arange(1, 129, dtype=np.float32), "dlib")
    face = ValidatedFace(vector, Quality(1, 1, 1, 1), b"jpg", "a.jpg")
    wl.enroll("missing", "Jane Roe", [face], actor="test")
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib").refresh().entries
    return Match(entry, 0.91)


def test_a_redelivered_candidate_is_stored_once(context: AppContext) -> None:
    match = _enrolled(context)
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    now = utcnow()
    candidate = CandidateAlert("cam", now - timedelta(seconds=3), now, match, b"jpg", 0.0)
    first = store.save(candidate, delivery_key="actor1:1")
    again = store.save(candidate, delivery_key="actor1:1")
    other = store.save(candidate, delivery_key="actor1:2")
    assert first == again != other
    assert store.delivered("actor1:1") == first and store.delivered("actor1:3") is None
    with context.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 2
    assert [e.kind for e in events if isinstance(e, AlertEvent)] == ["candidate", "candidate"]


def test_a_redelivered_sighting_update_is_applied_once(context: AppContext) -> None:
    match = _enrolled(context)
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    now = utcnow()
    candidate = CandidateAlert("cam", now - timedelta(seconds=3), now, match, b"jpg", 0.0)
    alert = store.save(candidate, delivery_key="actor1:1")
    update = SightingUpdate(alert, 2, replace(candidate, first_seen=now, last_seen=now))
    assert store.save_sighting(update, delivery_key="actor1:s1")
    assert store.save_sighting(update, delivery_key="actor1:s1")  # redelivered: already applied
    with context.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AlertSighting)) == 2
        audited = select(func.count()).select_from(AuditEvent)
        assert s.scalar(audited.where(AuditEvent.action == "alert.sighting")) == 1
    assert [e.kind for e in events if isinstance(e, AlertEvent)] == ["candidate", "updated"]


# -- status: node per camera in /metrics and `vigil cluster status` ------------------------------
def _status(camera: str, node: str | None) -> CameraStatus:
    return CameraStatus(
        camera, "rtsp://h/x", "rtsp", CameraState.CONNECTED, NOW, 5.0, 5.0, 10, 10, 0, 0, 0, 0,
        None, NOW, None, 5.0, node=node,
    )  # fmt: skip


def test_metrics_name_the_node_of_each_camera_for_logged_in_scrapers_only() -> None:
    metrics = VigilMetrics(
        lambda: [_status("a", "10.0.0.5"), _status("b", "10.0.0.5"), _status("c", None)]
    )
    text = metrics.render().decode()
    assert 'vigil_camera_node{camera="a",node="10.0.0.5"} 1.0' in text
    assert 'vigil_camera_node{camera="c",node="local"} 1.0' in text
    assert 'vigil_node_cameras{node="10.0.0.5"} 2.0' in text
    assert 'node="' not in metrics.render(camera_names=False).decode()


def _report(
    camera: str, node: str, version: int, origin: str = "cc", drops: tuple[int, int] = (0, 0)
) -> ActorReport:
    return ActorReport(
        _status(camera, "10.0.0.5"), node, "10.0.0.5", "inc", version, origin, NOW, 1, 2,
        drops[0], 9, None, dropped_sightings=drops[1],
    )  # fmt: skip


def test_cluster_status_groups_cameras_by_node_with_gallery_lag() -> None:
    node_list = [
        NodeInfo("n1", "10.0.0.5", True, 4.0, 0),
        NodeInfo("n2", "10.0.0.6", False, 4.0, 0),
    ]
    reports = {"a": _report("a", "n1", 3), "b": _report("b", "n1", 2, drops=(4, 7)), "c": None}
    status = build_status(node_list, reports)
    assert [n.cameras for n in status.nodes] == [("a", "b"), ()]
    lags = {
        a.camera: (a.gallery_version, a.gallery_entries, a.gallery_lag, a.state)
        for a in status.actors
    }
    assert lags == {
        "a": (3, 1, 0, "connected"),
        "b": (2, 1, 1, "connected"),
        "c": (0, 0, 0, "unreachable"),
    }
    assert status.as_dict()["actors"][0]["pending"] == 2
    drops = {a.camera: (a.dropped, a.dropped_sightings) for a in status.actors}
    assert drops == {"a": (0, 0), "b": (4, 7), "c": (0, 0)}  # candidates, sighting updates
