"""One camera as a Ray actor: capture worker, pipeline and model pack, no database, no key.

:class:`CameraActor` is a plain class; :mod:`vigil.runtime.ray_engine` wraps it with
``ray.remote`` (restarts, CPUs). It matches against the last :class:`GalleryRelease` the command
center published (none yet: it matches nothing), keeps candidate alerts in a bounded
:class:`CandidateOutbox` until the command center confirms it stored them (so a command-center
restart loses none; drops beyond the bound are counted), and hands over per-minute counts.
Previews are blurred unless the caller asks otherwise, as with the local engine.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

import numpy as np

from vigil.domain.counts import MinuteCount
from vigil.errors import VigilError
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.imaging import encode_jpeg
from vigil.models.registry import create_pack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.masking import blur_all_faces
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import build_pipeline
from vigil.pipeline.quality import QualityGate
from vigil.runtime.wire import (
    ActorReport,
    ActorSpec,
    Delivery,
    GalleryRelease,
    LastSeen,
    Receipt,
    WireCandidate,
    WireCount,
)
from vigil.sources.worker import CameraWorker
from vigil.threads import BackgroundLoop
from vigil.types import CandidateAlert, Frame, Track

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
    """The pipeline's alert sink on an actor: candidates wait here until they are stored.

    ``save`` returns a local sequence number the pipeline uses as the alert's id for later
    ``update_last_seen`` calls; the command center maps keys to its alert ids. At most
    ``limit`` candidates wait: a new one beyond pushes out the oldest (counted in ``dropped``).
    """

    def __init__(self, limit: int, incarnation: str | None = None) -> None:
        if limit < 1:
            raise ValueError(f"CandidateOutbox: limit must be at least 1, got {limit}")
        self.limit = limit
        self.incarnation = incarnation or uuid.uuid4().hex[:16]
        self.dropped = 0
        self._seq = 0
        self._pending: OrderedDict[str, WireCandidate] = OrderedDict()
        self._last_seen: OrderedDict[str, datetime] = OrderedDict()
        self._counts: list[WireCount] = []
        self._lock = threading.Lock()

    def key(self, seq: int) -> str:
        return f"{self.incarnation}:{seq}"

    def save(self, candidate: CandidateAlert) -> int | None:
        with self._lock:
            self._seq += 1
            key = self.key(self._seq)
            self._pending[key] = WireCandidate(key, candidate)
            while len(self._pending) > self.limit:
                gone, _ = self._pending.popitem(last=False)
                self._last_seen.pop(gone, None)
                self.dropped += 1
                log.warning("candidate queue full (%d): dropped %s", self.limit, gone)
            return self._seq

    def update_last_seen(self, alert_id: int, track: Track) -> None:
        with self._lock:
            key = self.key(alert_id)
            self._last_seen[key] = track.last_seen
            self._last_seen.move_to_end(key)
            while len(self._last_seen) > self.limit:
                self._last_seen.popitem(last=False)

    def write(self, camera: str, minute: datetime, counts: MinuteCount) -> None:
        """Counts sink: whole minutes wait for the next collection (handed over once)."""
        with self._lock:
            self._counts.append(WireCount(camera, minute, replace(counts)))

    def take(self, limit: int = 100) -> Delivery:
        """Up to ``limit`` waiting candidates (kept until acknowledged), their last-seen
        updates and the finished minutes (handed over once: counts are never doubled)."""
        with self._lock:
            candidates = tuple(list(self._pending.values())[:limit])
            last_seen = tuple(LastSeen(k, t) for k, t in self._last_seen.items())
            counts, self._counts = tuple(self._counts), []
        return Delivery(candidates, last_seen, counts)

    def take_candidates(self) -> tuple[WireCandidate, ...]:
        """The waiting candidates (nothing is handed over or forgotten)."""
        with self._lock:
            return tuple(self._pending.values())

    def acknowledge(self, receipt: Receipt) -> None:
        with self._lock:
            for key in receipt.keys:
                self._pending.pop(key, None)
            for item in receipt.last_seen:
                if self._last_seen.get(item.key) == item.last_seen:
                    del self._last_seen[item.key]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


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
    """A camera on a cluster node; the command center calls its methods through Ray."""

    def __init__(self, spec: ActorSpec) -> None:
        camera, settings = spec.camera, spec.settings
        self.camera = camera.name
        pack = create_pack(settings)
        self.gallery = PublishedGallery(pack.name)
        self.outbox = CandidateOutbox(spec.pending_limit)
        self.worker = CameraWorker(
            camera, settings.sources, loop=spec.loop_files, playback=spec.playback
        )
        self.pipeline = build_pipeline(
            camera.name,
            pack,
            Matcher(self.gallery, settings.matching.top_k),
            settings.tracking,
            QualityGate(settings.quality),
            counter=FaceCounter(camera.name, self.outbox),
            sink=self.outbox,
        )
        self.error: str | None = None
        self.node_id, self.node_ip = _node()
        self._loop = BackgroundLoop(f"vigil-actor-{camera.name}", self._run)
        self.worker.start()
        self._loop.start()

    def _run(self) -> None:
        try:
            while not self._loop.stopping and not self.worker.done:
                frame = self.worker.next_frame(0.5)
                if frame is not None:
                    self._process(frame)
        finally:
            self._flush()

    def _process(self, frame: Frame) -> None:
        try:
            self.pipeline.process(frame)
        except VigilError as exc:
            self.error = str(exc)
            log.error("camera %s: %s", self.camera, exc)
        except Exception as exc:  # one bad frame must not stop the camera
            self.error = f"internal error on frame {frame.index}: {exc!r}"
            log.exception("camera %s: frame %s failed", self.camera, frame.index)

    def _flush(self) -> None:
        try:
            self.pipeline.flush()
        except VigilError as exc:
            self.error = str(exc)
        finally:
            self.worker.stop()

    # -- what the command center calls ---------------------------------------------------------
    def set_gallery(self, release: GalleryRelease) -> int:
        """Install a published gallery; returns the version in use."""
        self.gallery.install(release)
        current = self.gallery.release
        return current.version if current is not None else 0

    def report(self) -> ActorReport:
        release = self.gallery.release
        return ActorReport(
            status=replace(self.worker.status(), node=self.node_ip),
            node_id=self.node_id,
            node_ip=self.node_ip,
            incarnation=self.outbox.incarnation,
            gallery_version=release.version if release else 0,
            gallery_origin=release.origin if release else "",
            gallery_published_at=release.published_at if release else None,
            gallery_entries=len(release.snapshot.entries) if release else 0,
            pending=self.outbox.pending,
            dropped=self.outbox.dropped,
            frames=self.pipeline.frames,
            error=self.error,
        )

    def take(self, limit: int = 100) -> Delivery:
        return self.outbox.take(limit)

    def acknowledge(self, receipt: Receipt) -> None:
        self.outbox.acknowledge(receipt)

    def pending_keys(self) -> tuple[str, ...]:
        """The keys of the candidates not yet stored (for operations and tests)."""
        return tuple(c.key for c in self.outbox.take_candidates())

    def preview_jpeg(self, blur: bool = True) -> bytes | None:
        latest = self.pipeline.latest
        if latest is None:
            return None
        image = (
            blur_all_faces(latest.frame.image, latest.detections) if blur else latest.frame.image
        )
        return encode_jpeg(image, 80)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop capture and analysis (pending candidates stay for a last :meth:`take`)."""
        self._loop.request_stop()
        self.worker.stop()
        return self._loop.join(timeout)
