"""The analysis side waits for frames and for the fps cap without busy waiting: every wait on the
frame buffer ends because a frame came (or the one timeout ran out), counted as events, never
timed. A loop that polled the buffer would wait (or spin) many times per frame."""

from __future__ import annotations

import threading

from vigil.config import CameraConfig, SourceConfig
from vigil.sources import CameraWorker
from vigil.types import Frame

from .fakes import FakeSource, ScriptedOpener


class CountingCondition(threading.Condition):
    """A Condition that counts how often a thread went to sleep on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


class SteppedSource(FakeSource):
    """A live source that hands out one frame per ``step.release()``."""

    def __init__(self, count: int, fps: float) -> None:
        super().__init__(count, fps=fps, live=True)
        self.step = threading.Semaphore(0)
        self.stopped = False

    def read(self) -> Frame | None:
        while not self.step.acquire(timeout=0.2):
            if self.stopped:
                return None
        return super().read()


def _worker(source: FakeSource, max_fps: float) -> tuple[CameraWorker, CountingCondition]:
    camera = CameraConfig(name="cam1", url="rtsp://127.0.0.1:9/fake", max_fps=max_fps)
    worker = CameraWorker(camera, SourceConfig(buffer_frames=64), opener=ScriptedOpener([source]))
    counting = CountingCondition()
    worker._buffer._cond = counting  # the seam: count the consumer's sleeps on the buffer
    return worker, counting


def test_an_idle_camera_sleeps_once_per_wait() -> None:
    source = SteppedSource(10, fps=30.0)  # no step released: no frame ever comes
    worker, counting = _worker(source, max_fps=5.0)
    worker.start()
    try:
        assert worker.next_frame(0.5) is None
        assert worker.next_frame(0.5) is None
        assert counting.waits == 2  # one sleep per call, not a poll
    finally:
        source.stopped = True
        worker.stop()


def test_frames_passed_over_by_the_cap_cost_no_extra_waits() -> None:
    """30 frames at 30 fps under a 5 fps cap: 5 are analysed, 25 skipped; the consumer sleeps at
    most once per frame that arrives (plus its final timeout), however long frames take."""
    source = SteppedSource(30, fps=30.0)
    worker, counting = _worker(source, max_fps=5.0)
    worker.start()
    got: list[int] = []

    def consume() -> None:
        while (frame := worker.next_frame(5.0)) is not None and len(got) < 5:
            got.append(frame.index)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        for _ in range(30):
            source.step.release()
        consumer.join(60)
        assert got == [0, 6, 12, 18, 24]
        status = worker.status()
        assert (status.frames_analysed, status.frames_in) == (5, 30)
        assert counting.waits <= 30 + 1
    finally:
        source.stopped = True
        worker.stop()
        consumer.join(10)
