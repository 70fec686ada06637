"""The frame loop shared by the local camera runner and the Ray camera actor: every frame goes
through the pipeline, a failing frame is recorded and skipped, the end flushes the pipeline,
stops the worker and then calls the owner back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from vigil.errors import ModelError, VigilError
from vigil.runtime.camera_loop import CameraLoop
from vigil.types import Frame


class FakeWorker:
    """Hands out ``count`` frames, then is done."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.index = 0
        self.started = self.stopped = False

    def start(self) -> FakeWorker:
        self.started = True
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        self.stopped = True
        return True

    @property
    def done(self) -> bool:
        return self.left == 0

    def next_frame(self, timeout: float) -> Frame | None:
        self.left -= 1
        self.index += 1
        image = np.zeros((8, 8, 3), np.uint8)
        return Frame("cam", self.index, datetime.now(UTC), 0.0, image)


class FakePipeline:
    def __init__(self, fail_on: dict[int, Exception], flush_error: VigilError | None = None):
        self.fail_on = fail_on
        self.flush_error = flush_error
        self.seen: list[int] = []
        self.flushed = False
        self.latest: Any = None

    @property
    def frames(self) -> int:
        return len(self.seen)

    def process(self, frame: Frame) -> None:
        if frame.index in self.fail_on:
            raise self.fail_on[frame.index]
        self.seen.append(frame.index)

    def flush(self) -> None:
        self.flushed = True
        if self.flush_error is not None:
            raise self.flush_error


def run(loop: CameraLoop) -> None:
    loop.start()
    assert loop.join(30), "the loop did not end with its source"


def test_every_frame_is_analysed_and_the_end_flushes_stops_and_calls_back() -> None:
    worker, pipeline = FakeWorker(5), FakePipeline({})
    finished: list[Any] = []
    loop = CameraLoop("cam", worker, "vigil-test-loop", on_finish=finished.append)  # type: ignore[arg-type]
    loop.pipeline = pipeline  # type: ignore[assignment]
    assert loop.preview_jpeg() is None  # nothing analysed yet
    run(loop)
    assert pipeline.seen == [1, 2, 3, 4, 5] and loop.frames == 5
    assert pipeline.flushed and worker.started and worker.stopped
    assert finished == [pipeline] and loop.error is None and not loop.running


def test_a_failing_frame_is_recorded_and_the_camera_goes_on() -> None:
    worker = FakeWorker(4)
    pipeline = FakePipeline({2: ModelError("the detector could not run"), 3: KeyError("boom")})
    loop = CameraLoop("cam", worker, "vigil-test-loop")  # type: ignore[arg-type]
    loop.pipeline = pipeline  # type: ignore[assignment]
    run(loop)
    assert pipeline.seen == [1, 4]
    assert loop.error is not None and "internal error on frame 3" in loop.error


def test_a_failing_flush_is_recorded_and_still_stops_the_worker_and_calls_back() -> None:
    worker, pipeline = FakeWorker(1), FakePipeline({}, ModelError("flush failed"))
    finished: list[Any] = []
    loop = CameraLoop("cam", worker, "vigil-test-loop", on_finish=finished.append)  # type: ignore[arg-type]
    loop.pipeline = pipeline  # type: ignore[assignment]
    run(loop)
    assert loop.error is not None and "flush failed" in loop.error
    assert worker.stopped and finished == [pipeline]


def test_starting_without_a_pipeline_is_refused_and_starts_nothing() -> None:
    worker = FakeWorker(1)
    loop = CameraLoop("cam", worker, "vigil-test-loop")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="pipeline"):
        loop.start()
    assert not worker.started and loop.join(0)
