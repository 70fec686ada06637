"""One camera at run time: capture worker -> pipeline -> alert store, on its own thread.

A run is one "use" of the system: it is recorded as a :class:`vigil.db.models.CameraSession`
row (pack, threshold, watchlists loaded) with ``camera.session_start`` / ``camera.session_stop``
audit events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from vigil.accountability.threshold import configured_early_margin, min_face_in_force
from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.errors import PermissionDenied
from vigil.models.base import ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import CameraPipeline, build_pipeline
from vigil.pipeline.quality import QualityGate
from vigil.runtime.camera_loop import CameraLoop
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.camera_sessions import SessionInfo, SessionLog
from vigil.services.counts import CountsWriter
from vigil.services.gallery import ActiveGallery, GalleryHub
from vigil.sources.capture import redact_url
from vigil.sources.worker import CameraStatus, CameraWorker
from vigil.types import CandidateAlert, SightingUpdate, Track

log = logging.getLogger(__name__)
ACTOR = "system:runtime"


class StoreSink:
    """Adapts :class:`AlertStore` to the pipeline's AlertSink; a lapsed authority drops it."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.saved: list[int] = []
        self.refused = 0

    def save(self, candidate: CandidateAlert) -> int | None:
        try:
            alert_id = self.store.save(candidate)
        except PermissionDenied as exc:
            self.refused += 1
            log.warning("candidate discarded: %s", exc)
            return None
        self.saved.append(alert_id)
        return alert_id

    def save_sighting(self, update: SightingUpdate) -> bool:
        try:
            return self.store.save_sighting(update)
        except PermissionDenied as exc:
            self.refused += 1
            log.warning("sighting discarded: %s", exc)
            return False

    def update_last_seen(self, alert_id: int, track: Track, ordinal: int = 1) -> None:
        self.store.update_last_seen(alert_id, track.last_seen, ordinal)


def build_camera_pipeline(
    context: AppContext,
    camera: str,
    pack: ModelPack,
    gallery: ActiveGallery,
    sink: StoreSink | None,
) -> CameraPipeline:
    """The full pipeline for one camera, wired to the database (counts) and the sink."""
    settings = context.settings
    # Cameras gate faces by the pack's video minimum face size (chosen with its threshold from
    # the CCTV-like benchmark; the gallery's snapshot raises it for its number of people, and the
    # pipeline follows that); quality.min_face_px stays the enrollment minimum.
    with context.db.read() as s:
        min_face = min_face_in_force(s, settings, pack.name)
    quality = settings.quality.model_copy(update={"min_face_px": min_face})
    return build_pipeline(
        camera,
        pack,
        Matcher(gallery, settings.matching.top_k),
        settings.tracking,
        QualityGate(quality),
        early_margin=configured_early_margin(settings, pack.name),
        counter=FaceCounter(camera, CountsWriter(context.db)),
        sink=sink,
    )


class CameraRunner:
    """Runs one camera on a thread: ``start()``, ``status()``, ``preview_jpeg()``, ``stop()``.

    The frame loop is :class:`~vigil.runtime.camera_loop.CameraLoop` (shared with the Ray
    actor); this runner adds the database side: the gallery, the alert store, the session."""

    def __init__(
        self,
        context: AppContext,
        camera: CameraConfig,
        bus: AlertBus,
        *,
        pack_factory: Callable[[], ModelPack] | None = None,
        worker: CameraWorker | None = None,
        gallery: ActiveGallery | None = None,
        galleries: GalleryHub | None = None,
    ) -> None:
        """``galleries``: the process's shared galleries (the supervisor's); else ``gallery``,
        else a gallery of this runner's own."""
        self.context = context
        self.camera = camera
        self.worker = worker or CameraWorker(camera, context.settings.sources)
        self._pack_factory = pack_factory or (lambda: context.pack)
        self._galleries = galleries
        self.gallery = gallery or ActiveGallery(
            context.db, context.cipher, context.settings, context.settings.model_pack
        )
        self.sink = StoreSink(AlertStore(context.db, context.cipher, context.settings, bus))
        self.session: SessionInfo | None = None
        self._frame_loop = CameraLoop(
            camera.name, self.worker, f"vigil-camera-{camera.name}", on_finish=self._stop_session
        )

    @property
    def pipeline(self) -> CameraPipeline | None:
        return self._frame_loop.pipeline

    @property
    def error(self) -> str | None:
        """The analysis side's last error (a frame the pipeline could not process)."""
        return self._frame_loop.error

    def start(self) -> CameraRunner:
        pack = self._pack_factory()
        if self._galleries is not None:
            self.gallery = self._galleries.gallery(pack.name)
        else:
            self.gallery.pack = pack.name
        self._frame_loop.pipeline = build_camera_pipeline(
            self.context, self.camera.name, pack, self.gallery, self.sink
        )
        self.session = SessionLog(self.context.db, self.context.instance).start(
            self.camera.name, redact_url(self.camera.url), self.gallery.snapshot()
        )
        self._frame_loop.start()
        return self

    def _stop_session(self, pipeline: CameraPipeline) -> None:
        if self.session is not None:
            SessionLog(self.context.db, self.context.instance).stop(
                self.session, frames=pipeline.frames, alerts=len(self.sink.saved)
            )

    @property
    def running(self) -> bool:
        return self._frame_loop.running

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (a file ended); True if it has."""
        self._frame_loop.join(timeout)
        return not self.running

    def stop(self, timeout: float = 10.0) -> None:
        self._frame_loop.stop(timeout)

    def status(self) -> CameraStatus:
        """The capture worker's status, with the analysis side's last error (a frame the
        pipeline could not process, a model worker that died) in ``analysis_error``."""
        problem = self.error or (self.pipeline.pack.problem() if self.pipeline else None)
        return replace(self.worker.status(), analysis_error=problem)

    def preview_jpeg(self, *, blur: bool = True) -> bytes | None:
        return self._frame_loop.preview_jpeg(blur=blur)
