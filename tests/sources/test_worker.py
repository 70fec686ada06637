"""The capture worker at its seam (a scripted fake opener): drops, the fps cap, states,
reconnection with backoff and stopping. Counts and order are asserted, never speeds."""

from __future__ import annotations

import socket
import threading

import pytest

from vigil.config import CameraConfig, SourceConfig
from vigil.errors import SourceError
from vigil.sources import AS_FAST_AS_ANALYSIS, FLAT_OUT, CameraState, CameraWorker, FilePlayback
from waiting import wait_for

from .fakes import FakeSource, ScriptedOpener

FAST_RETRY = {"reconnect_initial_seconds": 0.01, "reconnect_max_seconds": 0.04}


def make_worker(opener: ScriptedOpener, *, buffer: int, max_fps: float = 60.0) -> CameraWorker:
    camera = CameraConfig(name="cam1", url="rtsp://127.0.0.1:9/fake", max_fps=max_fps)
    config = SourceConfig(buffer_frames=buffer, **FAST_RETRY)
    return CameraWorker(camera, config, opener=opener)


def drain(worker: CameraWorker) -> list[int]:
    indices = []
    while (frame := worker.next_frame(0.0)) is not None:
        indices.append(frame.index)
    return indices


def test_full_buffer_drops_the_oldest_and_counts_every_drop() -> None:
    worker = make_worker(ScriptedOpener([FakeSource(10)]), buffer=2)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    status = worker.status()
    assert (status.frames_in, status.drops) == (10, 8)
    assert drain(worker) == [8, 9]  # the newest frames, in order
    assert worker.done
    assert worker.next_frame(0.0) is None
    worker.stop()


def test_fps_cap_skips_frames_by_time_and_counts_them_apart_from_drops() -> None:
    worker = make_worker(ScriptedOpener([FakeSource(60, fps=30.0)]), buffer=64, max_fps=5.0)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    assert drain(worker) == list(range(0, 60, 6))
    status = worker.status()
    assert (status.frames_in, status.drops, status.skipped_by_cap) == (60, 0, 50)
    assert status.frames_analysed == 10
    worker.stop()


def test_every_frame_is_either_dropped_skipped_or_analysed() -> None:
    worker = make_worker(ScriptedOpener([FakeSource(60, fps=30.0)]), buffer=4, max_fps=5.0)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    # the cap runs before the buffer: 0, 6, ..., 54 are admitted (the rest skipped), and the
    # buffer of 4 keeps the newest 4 of those 10
    assert drain(worker) == [36, 42, 48, 54]
    status = worker.status()
    assert (status.drops, status.skipped_by_cap, status.frames_analysed) == (6, 50, 4)
    assert status.drops + status.skipped_by_cap + status.frames_analysed == status.frames_in


def test_frames_generator_yields_until_the_file_ends() -> None:
    worker = make_worker(ScriptedOpener([FakeSource(5)]), buffer=64)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    assert [f.index for f in worker.frames(poll_seconds=0.01)] == [0, 1, 2, 3, 4]


def test_failed_open_then_connect_then_loss_then_reconnect() -> None:
    refused = SourceError("cannot open rtsp://127.0.0.1:9/fake: connection refused.")
    hold_first = threading.Event()
    gate_connect, gate_reconnect = threading.Event(), threading.Event()
    first = FakeSource(3, live=True, hold=hold_first)
    hold_second = threading.Event()
    second = FakeSource(1000, live=True, hold=hold_second)
    opener = ScriptedOpener([refused, first, second], gates={1: gate_connect, 2: gate_reconnect})
    worker = make_worker(opener, buffer=2)
    worker.start()
    try:
        wait_for(lambda: opener.calls == 2, "the second open")  # held inside it by the gate
        status = worker.status()
        assert status.state is CameraState.FAILED
        assert status.open_failures == 1
        assert status.last_error == "cannot open rtsp://127.0.0.1:9/fake: connection refused."
        assert status.next_retry_at is not None

        gate_connect.set()
        wait_for(lambda: worker.status().frames_in == 3, "three frames")
        status = worker.status()
        assert (status.state, status.reconnects, status.next_retry_at) == (
            CameraState.CONNECTED,
            0,
            None,
        )

        hold_first.set()  # the stream is lost; the worker waits in the third open
        wait_for(lambda: opener.calls == 3, "the reopen")
        status = worker.status()
        assert status.state is CameraState.RECONNECTING
        assert "lost the stream from rtsp://127.0.0.1:9/fake" in (status.last_error or "")
        assert first.closed

        gate_reconnect.set()
        wait_for(lambda: worker.status().frames_in > 3, "frames after the reconnect")
        status = worker.status()
        assert (status.state, status.reconnects, status.open_failures) == (
            CameraState.CONNECTED,
            1,
            1,
        )
        assert opener.index_starts == [0, 0, 3]  # frame indices keep increasing per camera
        assert worker.next_frame(5.0).index >= 3
    finally:
        for event in (gate_connect, gate_reconnect, hold_first, hold_second):
            event.set()
        assert worker.stop()
    assert worker.status().state is CameraState.STOPPED
    assert second.closed


def test_open_keeps_failing_with_backoff_until_stopped() -> None:
    opener = ScriptedOpener([SourceError("cannot open fake: connection refused.")])
    worker = make_worker(opener, buffer=2)
    worker.start()
    wait_for(lambda: worker.status().open_failures >= 3, "three failed opens")
    status = worker.status()
    assert status.state is CameraState.FAILED
    assert status.frames_in == 0
    assert worker.stop()
    assert worker.status().state is CameraState.STOPPED
    assert worker.done


def test_stop_returns_even_when_the_decoder_is_stuck_in_a_read() -> None:
    block = threading.Event()
    source = FakeSource(5, live=True, block=block)
    worker = make_worker(ScriptedOpener([source]), buffer=2)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.CONNECTED, "the connection")
    assert worker.stop(timeout=0.05) is False  # still inside read(); stop() did not hang
    assert worker.status().state is CameraState.STOPPED
    assert worker.next_frame(0.0) is None
    block.set()  # the read returns: the thread sees the stop and releases the source
    wait_for(lambda: source.closed, "the source to be closed")


def test_an_internal_error_is_reported_not_swallowed() -> None:
    def broken_opener(index_start: int) -> FakeSource:
        raise RuntimeError("bug in opener")

    camera = CameraConfig(name="cam1", url="rtsp://127.0.0.1:9/fake")
    worker = CameraWorker(camera, SourceConfig(**FAST_RETRY), opener=broken_opener).start()
    wait_for(lambda: worker.done, "the worker to give up")
    status = worker.status()
    assert status.state is CameraState.FAILED
    assert "internal error" in (status.last_error or "")
    assert "bug in opener" in (status.last_error or "")


def test_status_masks_the_password_in_the_url() -> None:
    camera = CameraConfig(name="cam1", url="rtsp://admin:s3cret@127.0.0.1:9/x")
    worker = CameraWorker(camera, SourceConfig(), opener=ScriptedOpener([FakeSource(0)]))
    status = worker.status()
    assert status.url == "rtsp://admin:***@127.0.0.1:9/x"
    assert status.state is CameraState.CONNECTING
    assert "s3cret" not in repr(status)


def test_starting_twice_is_refused() -> None:
    worker = make_worker(ScriptedOpener([FakeSource(1)]), buffer=2).start()
    with pytest.raises(RuntimeError, match="already started"):
        worker.start()
    worker.stop()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_camera_reports_failed_with_a_clear_error_and_stops_promptly() -> None:
    url = f"rtsp://127.0.0.1:{unused_port()}/x"
    camera = CameraConfig(name="dead", url=url)
    config = SourceConfig(
        reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2, open_timeout_seconds=2
    )
    with CameraWorker(camera, config) as worker:  # the real OpenCV path, no fake
        wait_for(lambda: worker.status().open_failures >= 2, "two failed opens")
        status = worker.status()
        assert status.state in (CameraState.FAILED, CameraState.RECONNECTING)
        assert status.last_error is not None
        assert status.last_error.startswith(f"cannot open {url}: connection refused.")
        assert "Check that the camera is switched on" in status.last_error
        assert worker.next_frame(0.01) is None
        assert worker.stop(timeout=5.0)  # joined
    assert worker.status().frames_in == 0


def file_worker(opener: ScriptedOpener, playback: FilePlayback, *, buffer: int) -> CameraWorker:
    camera = CameraConfig(name="cam1", url="clip.mp4", max_fps=60.0)  # a file camera
    config = SourceConfig(buffer_frames=buffer, **FAST_RETRY)
    return CameraWorker(camera, config, playback=playback, opener=opener)


def test_a_file_played_as_fast_as_analysis_drops_nothing() -> None:
    worker = file_worker(ScriptedOpener([FakeSource(40)]), AS_FAST_AS_ANALYSIS, buffer=2)
    with worker:
        indices = [frame.index for frame in worker.frames(poll_seconds=0.05)]
    status = worker.status()
    # 30 fps of video time under a 60 fps cap: every frame is analysed, none dropped.
    assert indices == list(range(40))
    assert (status.frames_in, status.drops, status.skipped_by_cap) == (40, 0, 0)


def test_a_file_played_flat_out_drops_like_a_live_camera() -> None:
    worker = file_worker(ScriptedOpener([FakeSource(10)]), FLAT_OUT, buffer=2)
    worker.start()
    wait_for(lambda: worker.status().state is CameraState.ENDED, "the file to end")
    assert (worker.status().frames_in, worker.status().drops) == (10, 8)
    worker.stop()


def test_a_live_camera_never_waits_for_the_analysis_whatever_the_playback() -> None:
    camera = CameraConfig(name="cam1", url="rtsp://127.0.0.1:9/fake", max_fps=60.0)
    opener = ScriptedOpener([FakeSource(10, live=True, hold=threading.Event())])
    worker = CameraWorker(
        camera, SourceConfig(buffer_frames=2), playback=AS_FAST_AS_ANALYSIS, opener=opener
    )
    with worker:
        wait_for(lambda: worker.status().frames_in == 10, "ten frames")
        assert worker.status().drops == 8


def test_a_waiting_file_decoder_stops_when_asked() -> None:
    worker = file_worker(ScriptedOpener([FakeSource(1000)]), AS_FAST_AS_ANALYSIS, buffer=2)
    worker.start()
    wait_for(lambda: worker.status().frames_in >= 2, "a full buffer")
    assert worker.stop(timeout=5)  # the decoder was waiting for room, not for a frame
    assert worker.status().frames_in < 1000


@pytest.mark.parametrize("speed", [0.0, -1.0, 0.05, 101.0, float("inf"), float("nan")])
def test_playback_speed_is_bounded(speed: float) -> None:
    with pytest.raises(ValueError, match=r"speed must be None .* between 0\.1 and 100"):
        FilePlayback(speed=speed)


def test_an_analysis_late_by_less_than_the_buffer_loses_no_capped_frame() -> None:
    """The analysis stalls (a frame with several faces to embed) while 4 capped frames arrive:
    with a buffer of 5 they wait, in order, and none is dropped, so the camera keeps its
    analysed fps over the stall; with a buffer of 2 the same stall loses the 3 oldest, counted."""
    for buffer, drops in ((5, 0), (2, 3)):
        worker = make_worker(ScriptedOpener([FakeSource(25, fps=30.0)]), buffer=buffer, max_fps=5)
        worker.start()
        wait_for(lambda w=worker: w.status().state is CameraState.ENDED, "the file to end")
        got = drain(worker)
        status = worker.status()
        assert got == [0, 6, 12, 18, 24][-buffer:]
        assert (status.drops, status.skipped_by_cap) == (drops, 20)
        worker.stop()
