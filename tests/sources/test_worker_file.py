"""The capture worker on the real Hamilton clip (file cameras for demos and benchmarks)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from vigil.config import CameraConfig, SourceConfig
from vigil.sources import FLAT_OUT, CameraState, CameraWorker
from waiting import wait_for

pytestmark = pytest.mark.shared


def test_file_without_loop_ends_and_counts_drops(hamilton_clip: Path) -> None:
    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=5)
    worker = CameraWorker(camera, SourceConfig(buffer_frames=2), playback=FLAT_OUT).start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the end of the clip")
    status = worker.status()
    # the 5 fps cap admits every 6th frame (46 of 275); nobody read, so all but the newest 2
    # admitted frames were dropped
    assert (status.frames_in, status.skipped_by_cap, status.drops) == (275, 229, 44)
    assert [f.index for f in worker.frames(poll_seconds=0.01)] == [264, 270]
    assert worker.done
    assert worker.stop()


def test_looping_file_keeps_the_camera_connected(hamilton_clip: Path) -> None:
    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=5)
    with CameraWorker(camera, SourceConfig(), loop=True, playback=FLAT_OUT) as worker:
        wait_for(lambda: worker.status().frames_in > 600, "more than two passes of the clip")
        status = worker.status()
        assert status.state is CameraState.CONNECTED
        assert status.reconnects == 0
        frame = worker.next_frame(10.0)
        assert frame is not None and frame.index > 0
    assert worker.status().state is CameraState.STOPPED


def test_paced_file_camera_delivers_frames_in_order(hamilton_clip: Path) -> None:
    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=30)
    with CameraWorker(camera, SourceConfig(buffer_frames=64), loop=True) as worker:
        indices = []
        while len(indices) < 10:
            frame = worker.next_frame(10.0)
            assert frame is not None
            indices.append(frame.index)
        assert indices == sorted(indices)
        assert worker.status().state is CameraState.CONNECTED


def test_a_paced_frame_is_stamped_when_it_is_due_not_when_it_was_decoded(
    hamilton_clip: Path,
) -> None:
    # A paced file decodes each frame as soon as the previous one is handed over and holds it
    # until its video time: its clock (``monotonic``, where alert latency starts) is that time,
    # as a live camera's frame would arrive. Stamped at decode, each frame would read about one
    # frame interval (1/30 s) early, so the stamps would run ahead of the video time.
    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=30)
    with CameraWorker(camera, SourceConfig(buffer_frames=64)) as worker:
        frames = [worker.next_frame(10.0) for _ in range(16)]
    assert all(f is not None for f in frames)
    first = frames[0]
    ahead = [
        (frame.captured_at - first.captured_at).total_seconds()
        - (frame.monotonic - first.monotonic)
        for frame in frames[1:]
    ]
    # stamped at decode, the median frame would be about 30 ms ahead; 15 ms is scheduler slack
    assert statistics.median(ahead) < 0.015, ahead
