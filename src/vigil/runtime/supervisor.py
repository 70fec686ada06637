"""The supervisor: starts, stops and reports on every camera runner of a deployment.

All cameras of a process share one gallery per pack (:class:`vigil.services.gallery.GalleryHub`,
kept current by change on one thread) and one model pack: ``context.pack``, the same one the web's
enrollment validator uses (:class:`vigil.models.base.ModelPack` is thread-safe; measured against
one pack per camera in scripts/bench_pack_sharing.py). ``pack_factory`` replaces it (tests,
benchmarks); it is called once per camera start.

Previews show the latest analysed frame with ALL faces blurred unless preview blur is switched
off (an audited setting on the web side).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.errors import Conflict, NotFound
from vigil.models.base import ModelPack
from vigil.runtime.runner import CameraRunner
from vigil.services.alerts import AlertBus
from vigil.services.gallery import GalleryHub
from vigil.sources.capture import source_kind
from vigil.sources.worker import REALTIME, CameraStatus, CameraWorker, FilePlayback


class Supervisor:
    def __init__(
        self,
        context: AppContext,
        bus: AlertBus,
        *,
        pack_factory: Callable[[], ModelPack] | None = None,
        loop_files: bool = False,
        playback: FilePlayback = REALTIME,
    ) -> None:
        """``loop_files`` restarts file cameras at their end (demo scene, soak runs); live
        cameras are unaffected and a recorded file plays once by default. ``playback`` says how
        fast file cameras play (tests: ``AS_FAST_AS_ANALYSIS``)."""
        self.context = context
        self.loop_files = loop_files
        self.playback = playback
        self.bus = bus
        self._pack_factory = pack_factory or self._shared_pack
        self._runners: dict[str, CameraRunner] = {}
        self._lock = threading.Lock()
        self._preview_blur = True
        self.galleries = GalleryHub(context.db, context.cipher, context.settings)

    def _shared_pack(self) -> ModelPack:
        """The process's one pack (loaded on first use), shared by every camera and the web."""
        return self.context.pack

    def start_camera(self, camera: CameraConfig) -> CameraRunner:
        with self._lock:
            current = self._runners.get(camera.name)
            if current is not None and current.running:
                raise Conflict(f"camera {camera.name!r} is already running", hint="stop it first")
            worker = None
            if source_kind(camera.url) == "file":
                worker = CameraWorker(
                    camera,
                    self.context.settings.sources,
                    loop=self.loop_files,
                    playback=self.playback,
                )
            runner = CameraRunner(
                self.context,
                camera,
                self.bus,
                pack_factory=self._pack_factory,
                worker=worker,
                galleries=self.galleries,
            )
            self._runners[camera.name] = runner
        try:
            return runner.start()
        except BaseException:  # e.g. the model pack cannot load: no half-started camera is listed
            with self._lock:
                if self._runners.get(camera.name) is runner:
                    del self._runners[camera.name]
            raise

    def stop_camera(self, name: str) -> None:
        with self._lock:
            runner = self._runners.pop(name, None)
        if runner is None:
            raise NotFound(f"camera {name!r} is not running", hint="see the camera list")
        runner.stop()

    def runner(self, name: str) -> CameraRunner:
        with self._lock:
            runner = self._runners.get(name)
        if runner is None:
            raise NotFound(f"camera {name!r} is not running")
        return runner

    def statuses(self) -> list[CameraStatus]:
        with self._lock:
            runners = list(self._runners.values())
        return [r.status() for r in runners]

    def preview_jpeg(self, name: str) -> bytes | None:
        return self.runner(name).preview_jpeg(blur=self._preview_blur)

    @property
    def preview_blur(self) -> bool:
        return self._preview_blur

    def set_preview_blur(self, enabled: bool) -> None:
        self._preview_blur = bool(enabled)

    def stop_all(self) -> None:
        with self._lock:
            runners = list(self._runners.values())
            self._runners.clear()
        for runner in runners:
            runner.stop()
        self.galleries.stop()
