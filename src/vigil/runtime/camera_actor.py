"""One camera as a Ray actor: capture worker, pipeline and model pack, no database, no key.

:class:`CameraActor` is a plain class; :mod:`vigil.runtime.ray_engine` wraps it with
``ray.remote`` (restarts, CPUs). It matches against the last :class:`GalleryRelease` the command
center published (none yet: it matches nothing), keeps candidate alerts and sighting updates in a
bounded :class:`CandidateOutbox` until the command center confirms it applied them (so a
command-center restart loses none; drops beyond the bound are counted), and hands over
per-minute counts. Previews are blurred unless the caller asks otherwise, as with the local
engine.

Alert ids on the actor are provisional. The pipeline wants ``save(candidate) -> alert id`` and
``save_sighting(update) -> bool`` at once; the real alert id exists only once the command center
has stored the candidate. So ``save`` answers the candidate's local sequence number, and every
later sighting and last-seen update of that alert travels under the candidate's delivery key
(``incarnation:seq``), which the command center resolves to its alert id (candidates of a
delivery are stored before its sightings, and a sighting whose candidate is still queued is held
back). ``save_sighting`` answers True (queued) unless a receipt already said the alert takes no
more sightings. When the command center finds it does not (decided, purged, its candidate
refused or dropped), it does what the local pipeline does on False: a track's *first* sighting
opens an alert of its own, stored under the delivery key ``<alert key>/<ordinal>`` (so its later
better shots and last-seen time go there too), and a later better shot is dropped; the receipt
then names the alert as closed, and from then on the actor answers False to a new track of it,
so the pipeline opens new alerts itself. Each sighting update has its own delivery key, recorded
with it in the same transaction: a redelivered one is applied once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np

from vigil.accountability.threshold import configured_early_margin, configured_min_face
from vigil.config import Settings
from vigil.domain.counts import MinuteCount
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.models.registry import create_pack, in_process
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import build_pipeline
from vigil.pipeline.quality import QualityGate
from vigil.runtime.camera_loop import CameraLoop
from vigil.runtime.wire import (
    ActorReport,
    ActorSpec,
    Delivery,
    GalleryRelease,
    LastSeen,
    Receipt,
    WireCandidate,
    WireCount,
    WireSighting,
)
from vigil.sources.worker import CameraWorker
from vigil.types import CandidateAlert, SightingUpdate, Track

log = logging.getLogger(__name__)


class PublishedGallery:
    """The pipeline's gallery source: the last release received, or an empty gallery."""

    def __init__(self, pack: str) -> None:
        empty = NumpyIndex()
        empty.build(np.zeros((0, 0), np.float32))
        self._empty = GallerySnapshot((), empty, 1.0, pack)
        self._release: GalleryRelease | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> GallerySnapshot:
        with self._lock:
            return self._release.snapshot if self._release is not None else self._empty

    def install(self, release: GalleryRelease) -> bool:
        """Use ``release`` unless one at least as new from the same publisher is in use."""
        with self._lock:
            current = self._release
            newer = (
                current is None
                or release.origin != current.origin
                or release.version > current.version
            )
            if newer:
                self._release = release
            return newer

    @property
    def release(self) -> GalleryRelease | None:
        with self._lock:
            return self._release


class CandidateOutbox:
    """The pipeline's alert sink on an actor: candidates and sighting updates wait here until
    the command center has applied them.

    ``save`` returns a local sequence number, the alert's *provisional* id: the pipeline uses it
    for the alert's later ``save_sighting`` and ``update_last_seen`` calls, and each of those is
    sent under the opening candidate's key (``incarnation:seq``), which the command center maps
    to its alert id once the candidate is stored. ``save_sighting`` queues the update and answers
    True, unless a receipt said that alert takes no more sightings (decided, purged, refused):
    then False, and the pipeline opens a new alert, as with the local engine. At most ``limit``
    candidates and ``limit`` sighting updates wait: a new one beyond pushes out the oldest
    (counted in ``dropped`` and ``dropped_sightings``).
    """

    def __init__(self, limit: int, incarnation: str | None = None) -> None:
        if limit < 1:
            raise ValueError(f"CandidateOutbox: limit must be at least 1, got {limit}")
        self.limit = limit
        self.incarnation = incarnation or uuid.uuid4().hex[:16]
        self.dropped = 0
        self.dropped_sightings = 0
        self._seq = 0
        self._sighting_seq = 0
        self._pending: OrderedDict[str, WireCandidate] = OrderedDict()
        self._sightings: OrderedDict[str, WireSighting] = OrderedDict()
        self._last_seen: OrderedDict[tuple[str, int], datetime] = OrderedDict()
        self._ordinals: OrderedDict[int, int] = OrderedDict()  # alert -> highest ordinal sent
        self._closed: OrderedDict[str, None] = OrderedDict()  # alerts that take no more
        self._counts: list[WireCount] = []
        self._lock = threading.Lock()

    def key(self, seq: int) -> str:
        return f"{self.incarnation}:{seq}"

    def save(self, candidate: CandidateAlert) -> int | None:
        with self._lock:
            self._seq += 1
            key = self.key(self._seq)
            self._pending[key] = WireCandidate(key, candidate)
            self._remember(self._ordinals, self._seq, 1)
            while len(self._pending) > self.limit:
                gone, _ = self._pending.popitem(last=False)
                self.dropped += 1
                log.warning("candidate queue full (%d): dropped %s", self.limit, gone)
            return self._seq

    def save_sighting(self, update: SightingUpdate) -> bool:
        """Queue a track's sighting of alert ``update.alert_id`` (a provisional id); False for a
        new track of an alert the command center said takes no more (the pipeline then opens a
        new one). A better shot of a track already sent is always queued: the command center
        applies it where that track's sighting lives, or drops it."""
        with self._lock:
            alert_key = self.key(update.alert_id)
            joins = update.ordinal > self._ordinals.get(update.alert_id, 0)
            if joins and alert_key in self._closed:
                return False
            self._remember(self._ordinals, update.alert_id, max(update.ordinal, 1))
            self._sighting_seq += 1
            key = f"{self.incarnation}:s{self._sighting_seq}"
            self._sightings[key] = WireSighting(
                key, alert_key, update.ordinal, update.candidate, update.conflicting, joins
            )
            while len(self._sightings) > self.limit:
                gone, _ = self._sightings.popitem(last=False)
                self.dropped_sightings += 1
                log.warning("sighting queue full (%d): dropped %s", self.limit, gone)
            return True

    def update_last_seen(self, alert_id: int, track: Track, ordinal: int = 1) -> None:
        with self._lock:
            self._remember(self._last_seen, (self.key(alert_id), ordinal), track.last_seen)

    def _remember(self, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        """Set ``key`` as the newest entry of a table kept to ``4 x limit`` entries."""
        table[key] = value
        table.move_to_end(key)
        while len(table) > 4 * self.limit:
            table.popitem(last=False)

    def write(self, camera: str, minute: datetime, counts: MinuteCount) -> None:
        """Counts sink: whole minutes wait for the next collection (handed over once)."""
        with self._lock:
            self._counts.append(WireCount(camera, minute, replace(counts)))

    def take(self, limit: int = 100) -> Delivery:
        """Up to ``limit`` waiting candidates (kept until acknowledged), the sighting updates and
        last-seen updates of alerts whose candidate goes first (kept until acknowledged), and
        the finished minutes (handed over once: counts are never doubled)."""
        with self._lock:
            waiting = list(self._pending.values())
            candidates, later = tuple(waiting[:limit]), {c.key for c in waiting[limit:]}
            sightings = tuple(u for u in self._sightings.values() if u.alert_key not in later)
            last_seen = tuple(
                LastSeen(k, t, ordinal)
                for (k, ordinal), t in self._last_seen.items()
                if k not in later
            )
            counts, self._counts = tuple(self._counts), []
        return Delivery(candidates, last_seen, counts, sightings)

    def take_candidates(self) -> tuple[WireCandidate, ...]:
        """The waiting candidates (nothing is handed over or forgotten)."""
        with self._lock:
            return tuple(self._pending.values())

    def acknowledge(self, receipt: Receipt) -> None:
        with self._lock:
            for key in receipt.keys:
                self._pending.pop(key, None)
            for key in receipt.sightings:
                self._sightings.pop(key, None)
            for key in receipt.closed:
                self._remember(self._closed, key, None)
            for item in receipt.last_seen:
                if self._last_seen.get((item.key, item.ordinal)) == item.last_seen:
                    del self._last_seen[(item.key, item.ordinal)]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def raised(self) -> int:
        """Candidates and sighting updates queued since this outbox was made: one per match."""
        with self._lock:
            return self._seq + self._sighting_seq


def video_gate(settings: Settings, pack: str) -> QualityGate:
    """The camera's quality gate: the pack's *video* minimum face size from the configuration
    (quality.min_face_px is the enrollment minimum) until a release brings the one in force
    (calibrated, raised for the gallery's size: :attr:`GallerySnapshot.min_face_px`)."""
    video = settings.quality.model_copy(update={"min_face_px": configured_min_face(settings, pack)})
    return QualityGate(video)


def _node() -> tuple[str, str]:
    """(node id, node ip) when running inside Ray, else ("local", "127.0.0.1")."""
    try:
        import ray

        if ray.is_initialized():
            node_id = ray.get_runtime_context().get_node_id()
            return node_id, ray.util.get_node_ip_address()
    except Exception:  # not inside Ray
        pass
    return "local", "127.0.0.1"


class CameraActor:
    """A camera on a cluster node; the command center calls its methods through Ray.

    Three threads touch it: the frame loop, Ray's default group (``report``, ``take``,
    ``acknowledge``, ``preview_jpeg``, one call at a time, in order) and the ``control`` group
    the command center uses for ``set_gallery`` and ``stop`` (so they never wait behind the
    others). What they share is locked: the gallery (:class:`PublishedGallery` swaps the release
    under its lock; the matcher reads one snapshot per frame) and the outbox.
    """

    def __init__(self, spec: ActorSpec) -> None:
        camera, settings = spec.camera, spec.settings
        self.camera = camera.name
        pack = create_pack(in_process(settings))  # one camera per actor: no GIL to share
        self.gallery = PublishedGallery(pack.name)
        self.outbox = CandidateOutbox(spec.pending_limit)
        self.worker = CameraWorker(
            camera, settings.sources, loop=spec.loop_files, playback=spec.playback
        )
        self._frame_loop = CameraLoop(camera.name, self.worker, f"vigil-actor-{camera.name}")
        self._frame_loop.pipeline = build_pipeline(
            camera.name,
            pack,
            Matcher(self.gallery, settings.matching.top_k),
            settings.tracking,
            video_gate(settings, pack.name),
            early_margin=configured_early_margin(settings, pack.name),
            counter=FaceCounter(camera.name, self.outbox),
            sink=self.outbox,
        )
        self.node_id, self.node_ip = _node()
        self._frame_loop.start()

    # -- what the command center calls ---------------------------------------------------------
    def set_gallery(self, release: GalleryRelease) -> int:
        """Install a published gallery; returns the version in use."""
        self.gallery.install(release)
        current = self.gallery.release
        return current.version if current is not None else 0

    def report(self) -> ActorReport:
        release, error = self.gallery.release, self._frame_loop.error
        return ActorReport(
            status=replace(self.worker.status(), node=self.node_ip, analysis_error=error),
            node_id=self.node_id,
            node_ip=self.node_ip,
            incarnation=self.outbox.incarnation,
            gallery_version=release.version if release else 0,
            gallery_origin=release.origin if release else "",
            gallery_published_at=release.published_at if release else None,
            gallery_entries=len(release.snapshot.entries) if release else 0,
            pending=self.outbox.pending,
            dropped=self.outbox.dropped,
            frames=self._frame_loop.frames,
            error=error,
            dropped_sightings=self.outbox.dropped_sightings,
            raised=self.outbox.raised,
        )

    def take(self, limit: int = 100) -> Delivery:
        return self.outbox.take(limit)

    def acknowledge(self, receipt: Receipt) -> None:
        self.outbox.acknowledge(receipt)

    def pending_keys(self) -> tuple[str, ...]:
        """The keys of the candidates not yet stored (for operations and tests)."""
        return tuple(c.key for c in self.outbox.take_candidates())

    def preview_jpeg(self, blur: bool = True) -> bytes | None:
        return self._frame_loop.preview_jpeg(blur=blur)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop capture and analysis (pending candidates stay for a last :meth:`take`)."""
        return self._frame_loop.stop(timeout)
