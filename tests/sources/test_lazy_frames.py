"""Frames become BGR only when the analysis takes them: dropped frames and frames passed over by
the fps cap are never converted, the converted pixels are PyAV's own, and a frame that cannot be
converted is passed over with its error shown. Conversions are counted, never timed."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.config import CameraConfig, SourceConfig
from vigil.errors import SourceError
from vigil.sources import AS_FAST_AS_ANALYSIS, CameraState, CameraWorker, FileSource
from vigil.sources.picture import BgrConverter, PendingFrame, ready
from vigil.types import Frame
from waiting import wait_for

from .fakes import IMAGE, T0, FakeSource, ScriptedOpener


class CountingPicture:
    """A picture that counts its conversions in a list shared by a whole source."""

    def __init__(self, index: int, converted: list[int], image: np.ndarray = IMAGE) -> None:
        self.index = index
        self.converted = converted
        self.image = image

    def bgr(self) -> np.ndarray:
        self.converted.append(self.index)
        return self.image


class PendingSource(FakeSource):
    """FakeSource handing out PendingFrames, as the real sources do."""

    def __init__(self, count: int, *, fps: float = 30.0, bad: frozenset[int] = frozenset()):
        super().__init__(count, fps=fps)
        self.converted: list[int] = []
        self.bad = bad  # indices whose picture fails to convert

    def read(self) -> PendingFrame | None:  # type: ignore[override]
        frame = super().read()
        if frame is None:
            return None
        picture = (
            FailingPicture()
            if frame.index in self.bad
            else CountingPicture(frame.index, self.converted)
        )
        return PendingFrame(frame.camera, frame.index, frame.captured_at, frame.monotonic, picture)


class FailingPicture:
    def bgr(self) -> np.ndarray:
        raise SourceError("a decoded frame could not be converted to BGR (test).")


def _worker(source: FakeSource, *, buffer: int, max_fps: float) -> CameraWorker:
    camera = CameraConfig(name="cam1", url="rtsp://127.0.0.1:9/fake", max_fps=max_fps)
    return CameraWorker(camera, SourceConfig(buffer_frames=buffer), opener=ScriptedOpener([source]))


def _ended_and_drained(worker: CameraWorker) -> list[Frame]:
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    frames = []
    while (frame := worker.next_frame(0.0)) is not None:
        frames.append(frame)
    worker.stop()
    return frames


def test_frames_skipped_by_the_cap_are_never_converted() -> None:
    source = PendingSource(60, fps=30.0)
    worker = _worker(source, buffer=64, max_fps=5.0)
    frames = _ended_and_drained(worker)
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(0, 60, 6))
    assert source.converted == list(range(0, 60, 6))  # one conversion per analysed frame
    status = worker.status()
    assert (status.frames_in, status.skipped_by_cap, status.frames_analysed) == (60, 50, 10)


def test_dropped_frames_are_never_converted_and_drops_are_still_counted() -> None:
    source = PendingSource(10)
    worker = _worker(source, buffer=2, max_fps=60.0)
    frames = _ended_and_drained(worker)
    assert [f.index for f in frames] == [8, 9]
    assert source.converted == [8, 9]
    status = worker.status()
    assert (status.frames_in, status.drops, status.frames_analysed) == (10, 8, 2)


def test_a_frame_that_cannot_be_converted_is_passed_over_with_its_error() -> None:
    source = PendingSource(4, bad=frozenset({1}))
    worker = _worker(source, buffer=8, max_fps=60.0)
    frames = _ended_and_drained(worker)
    assert [f.index for f in frames] == [0, 2, 3]
    assert "could not be converted" in (worker.status().last_error or "")


def test_a_stream_that_keeps_failing_to_convert_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = PendingSource(5, bad=frozenset({1, 2, 3}))
    with caplog.at_level(logging.WARNING, logger="vigil.sources.worker"):
        frames = _ended_and_drained(_worker(source, buffer=8, max_fps=60.0))
    assert [f.index for f in frames] == [0, 4]
    assert sum("could not be converted" in r.getMessage() for r in caplog.records) == 1


def test_a_pending_frame_is_validated_when_converted() -> None:
    gray = np.zeros((4, 6), np.uint8)
    pending = PendingFrame("cam", 0, T0, 0.0, CountingPicture(0, [], gray))
    with pytest.raises(ValueError, match="uint8 HxWx3 BGR"):
        pending.frame()
    with pytest.raises(ValueError, match="timezone-aware"):
        PendingFrame("cam", 0, T0.replace(tzinfo=None), 0.0, CountingPicture(0, []))


def test_ready_takes_both_kinds() -> None:
    frame = Frame("cam", 3, T0 + timedelta(seconds=1), 1.0, IMAGE)
    assert ready(frame) is frame
    converted: list[int] = []
    made = ready(PendingFrame("cam", 3, frame.captured_at, 1.0, CountingPicture(3, converted)))
    assert (made.index, made.captured_at, converted) == (3, frame.captured_at, [3])


@pytest.mark.shared
def test_converted_pixels_are_pyav_own_bgr(hamilton_clip: Path) -> None:
    converter = BgrConverter()
    with av.open(str(hamilton_clip)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            expected = decoded.to_ndarray(format="bgr24")
            image = converter.convert(decoded)
            assert image.flags.c_contiguous and image.dtype == np.uint8
            np.testing.assert_array_equal(image, expected)
            if i == 40:
                break
    assert converter.conversions == 41


@pytest.mark.shared
def test_a_file_camera_converts_only_the_frames_it_analyses(hamilton_clip: Path) -> None:
    opened: list[FileSource] = []

    def opener(index_start: int) -> FileSource:
        opened.append(FileSource(hamilton_clip, "stage", index_start=index_start))
        return opened[-1]

    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=5.0)
    worker = CameraWorker(camera, playback=AS_FAST_AS_ANALYSIS, opener=opener)
    analysed = list(worker.start().frames(poll_seconds=0.1))
    worker.stop()
    status = worker.status()
    assert status.frames_in == 275 and status.drops == 0
    assert len(analysed) == status.frames_analysed == 46  # 9.2 s of video at 5 fps
    assert [opened[0].converter.conversions] == [46]
    assert analysed[0].image.shape == (360, 640, 3)


@pytest.mark.shared
def test_a_looping_file_keeps_one_converter(hamilton_clip: Path) -> None:
    source = FileSource(hamilton_clip, "loop", loop=True)
    frames = [source.read() for _ in range(300)]  # past the end: the file was reopened
    last = frames[-1]
    assert last is not None
    assert last.frame().image.shape == (360, 640, 3)
    assert source.converter.conversions == 1  # the other 299 were never converted
    source.close()


def test_the_decoder_thread_never_converts() -> None:
    """Conversion happens on the thread that takes the frame, not on the decoder thread."""
    threads: list[str] = []

    class ThreadPicture(CountingPicture):
        def bgr(self) -> np.ndarray:
            threads.append(threading.current_thread().name)
            return super().bgr()

    class Source(PendingSource):
        def read(self) -> PendingFrame | None:  # type: ignore[override]
            item = super().read()
            if item is None:
                return None
            picture = ThreadPicture(item.index, self.converted)
            return PendingFrame(item.camera, item.index, item.captured_at, item.monotonic, picture)

    frames = _ended_and_drained(_worker(Source(12), buffer=64, max_fps=10.0))
    assert len(frames) == 4
    assert threads == [threading.current_thread().name] * 4
