"""The frame loop every camera runs, here (:class:`~vigil.runtime.runner.CameraRunner`) or as a
Ray actor (:class:`~vigil.runtime.camera_actor.CameraActor`).

A background thread hands the capture worker's frames to the camera's pipeline until a stop is
requested or the source ends. A frame the pipeline cannot process is logged and kept as
``error`` (shown in the camera's status); it never stops the camera. At the end the pipeline is
flushed (its open tracks decided), the worker stopped, then the owner's ``on_finish`` runs with
the pipeline (the local runner closes its camera session there). No database, no key: the actor
runs it on a node that has neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vigil.errors import VigilError
from vigil.imaging import encode_jpeg
from vigil.pipeline.masking import blur_all_faces
from vigil.pipeline.pipeline import CameraPipeline
from vigil.sources.worker import CameraWorker
from vigil.threads import BackgroundLoop
from vigil.types import Frame

log = logging.getLogger(__name__)
FRAME_WAIT_SECONDS = 0.5  # how long the loop waits for a frame before checking for a stop


class CameraLoop:
    """Feeds ``worker``'s frames to ``pipeline`` on the thread ``thread_name``.

    Set :attr:`pipeline`, then :meth:`start` (the worker, then the thread); :meth:`stop` asks
    both to end and waits for the thread.
    """

    def __init__(
        self,
        camera: str,
        worker: CameraWorker,
        thread_name: str,
        *,
        on_finish: Callable[[CameraPipeline], None] | None = None,
    ) -> None:
        self.camera = camera
        self.worker = worker
        self.pipeline: CameraPipeline | None = None
        self.error: str | None = None
        self._on_finish = on_finish
        self._loop = BackgroundLoop(thread_name, self._run)

    def start(self) -> None:
        if self.pipeline is None:
            raise RuntimeError(f"camera {self.camera}: set the pipeline before starting")
        self.worker.start()
        self._loop.start()

    @property
    def running(self) -> bool:
        return self._loop.running

    @property
    def frames(self) -> int:
        """Frames the pipeline has analysed (0 before it exists)."""
        return self.pipeline.frames if self.pipeline is not None else 0

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end; True if it has (or never started)."""
        return self._loop.join(timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop capture and analysis; True once the loop has ended (pipeline flushed)."""
        self._loop.request_stop()
        self.worker.stop()
        return self._loop.join(timeout)

    def preview_jpeg(self, *, blur: bool = True) -> bytes | None:
        """The last analysed frame as JPEG, every face blurred unless ``blur`` is False."""
        latest = self.pipeline.latest if self.pipeline is not None else None
        if latest is None:
            return None
        image = (
            blur_all_faces(latest.frame.image, latest.detections) if blur else latest.frame.image
        )
        return encode_jpeg(image, 80)

    def _run(self) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            while not self._loop.stopping and not self.worker.done:
                frame = self.worker.next_frame(FRAME_WAIT_SECONDS)
                if frame is not None:
                    self._process(pipeline, frame)
        finally:
            self._finish(pipeline)

    def _process(self, pipeline: CameraPipeline, frame: Frame) -> None:
        try:
            pipeline.process(frame)
        except VigilError as exc:
            self.error = str(exc)
            log.error("camera %s: %s", self.camera, exc)
        except Exception as exc:  # one bad frame must not stop the camera
            self.error = f"internal error on frame {frame.index}: {exc!r}"
            log.exception("camera %s: frame %s failed", self.camera, frame.index)

    def _finish(self, pipeline: CameraPipeline) -> None:
        try:
            pipeline.flush()
        except VigilError as exc:
            self.error = str(exc)
        finally:
            self.worker.stop()
            if self._on_finish is not None:
                self._on_finish(pipeline)
