"""``vigil analyze``: one camera's full pipeline over a video file or a live stream.

A file is read offline: every frame the fps cap admits, in order, none dropped, as fast as the
machine goes. A stream URL runs a :class:`~vigil.runtime.runner.CameraRunner` (capture worker
with drop-oldest buffer and reconnects) until the stream ends, the duration is over or Ctrl-C.
Either way the run is a recorded camera session and alerts go through the AlertStore.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.domain.events import AlertEvent
from vigil.errors import InputError
from vigil.runtime.runner import CameraRunner, StoreSink, build_camera_pipeline
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.camera_sessions import SessionKeeper, SessionLog
from vigil.services.gallery import ActiveGallery
from vigil.sources.capture import redact_url, source_kind
from vigil.sources.offline import FileReader

Progress = Callable[[int, int], None]  # (frames decoded, frames in the file or 0)


@dataclass(frozen=True, slots=True)
class AnalyzeSummary:
    camera: str
    frames_decoded: int
    frames_analysed: int
    alerts: int
    refused: int  # candidates dropped because their authority lapsed before they were stored
    watchlists: tuple[str, ...] = ()  # watchlists with entries loaded when the run started


def camera_config(
    context: AppContext, name: str, source: str, max_fps: float | None
) -> CameraConfig:
    """The configured camera of that name with this source, or a new one (default fps cap)."""
    for camera in context.settings.cameras:
        if camera.name == name:
            update = {"url": source} | ({"max_fps": max_fps} if max_fps else {})
            return camera.model_copy(update=update)
    try:
        return CameraConfig(name=name, url=source, **({"max_fps": max_fps} if max_fps else {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"camera {field} {first['input']!r} is not valid: {first['msg']}",
            hint="camera names use letters, digits, '.', '_' and '-' only",
        ) from exc


def analyze_file(
    context: AppContext, camera: CameraConfig, bus: AlertBus, *, progress: Progress | None = None
) -> AnalyzeSummary:
    gallery = ActiveGallery(context.db, context.cipher, context.settings, context.pack.name)
    sink = StoreSink(AlertStore(context.db, context.cipher, context.settings, bus))
    pipeline = build_camera_pipeline(context, camera.name, context.pack, gallery, sink)
    reader = FileReader(camera.url, camera.name, camera.max_fps, config=context.settings.sources)
    total = reader.frame_count
    sessions = SessionLog(context.db, context.instance)
    session = sessions.start(camera.name, redact_url(camera.url), gallery.snapshot())
    try:
        for frame in reader.frames():
            pipeline.process(frame)
            if progress:
                progress(reader.decoded, total)
        pipeline.flush()
    finally:
        sessions.stop(session, frames=pipeline.frames, alerts=len(sink.saved))
    return AnalyzeSummary(
        camera.name,
        reader.decoded,
        pipeline.frames,
        len(sink.saved),
        sink.refused,
        session.watchlists,
    )


def analyze_stream(
    context: AppContext, camera: CameraConfig, bus: AlertBus, *, duration: float | None = None
) -> AnalyzeSummary:
    runner = CameraRunner(context, camera, bus).start()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while runner.running and (deadline is None or time.monotonic() < deadline):
            runner.wait(0.5)
    except KeyboardInterrupt:  # Ctrl-C is the normal end of a live run
        pass
    finally:
        runner.stop()
    status = runner.status()
    frames = runner.pipeline.frames if runner.pipeline is not None else 0
    watchlists = runner.session.watchlists if runner.session is not None else ()
    return AnalyzeSummary(
        camera.name,
        status.frames_in,
        frames,
        len(runner.sink.saved),
        runner.sink.refused,
        watchlists,
    )


def analyze(
    context: AppContext,
    camera: CameraConfig,
    bus: AlertBus,
    *,
    duration: float | None = None,
    progress: Progress | None = None,
) -> AnalyzeSummary:
    # Its camera session stays alive for the servers that share the database (heartbeats).
    keeper = SessionKeeper(
        context.db, context.instance, context.settings.runtime, actor="vigil analyze"
    )
    keeper.start()
    try:
        if source_kind(camera.url) == "file":
            return analyze_file(context, camera, bus, progress=progress)
        return analyze_stream(context, camera, bus, duration=duration)
    finally:
        keeper.stop()


class AlertPrinter:
    """Reports each alert once with its final times.

    For a file (``live=False``) alerts are reported at :meth:`finish`, in order. For a stream an
    alert is reported when its first track ends (later sightings in the same passage only move
    its last-seen time in the database), and the rest at :meth:`finish`.
    """

    def __init__(self, emit: Callable[[AlertEvent], None], *, live: bool) -> None:
        self.emit = emit
        self.live = live
        self._latest: dict[int, AlertEvent] = {}
        self._done: set[int] = set()
        self.printed: list[AlertEvent] = []

    def __call__(self, event: AlertEvent) -> None:
        if event.kind not in ("candidate", "updated"):
            return
        self._latest[event.alert_id] = event
        if self.live and event.kind == "updated" and event.alert_id not in self._done:
            self._emit(event)

    def finish(self) -> None:
        for alert_id in sorted(self._latest):
            if alert_id not in self._done:
                self._emit(self._latest[alert_id])

    def _emit(self, event: AlertEvent) -> None:
        self._done.add(event.alert_id)
        self.printed.append(event)
        self.emit(event)
