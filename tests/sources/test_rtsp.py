"""RTSP end to end: a real RTSP server on 127.0.0.1 (node rtsp-streaming-server fed by ffmpeg),
read by PyAV over TCP. Needs scripts/install-test-deps; skipped with the reason otherwise."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from rtsp_server import RtspServer, describe_status, rtsp_stream
from vigil.config import CameraConfig, SourceConfig
from vigil.sources import CameraState, CameraWorker, StreamSource, test_connection
from waiting import wait_for

pytestmark = [pytest.mark.rtsp, pytest.mark.shared]


def test_stream_source_reads_frames_over_tcp(hamilton_rtsp: RtspServer) -> None:
    source = StreamSource(hamilton_rtsp.url, "stage", SourceConfig(open_timeout_seconds=15))
    frames = [source.read() for _ in range(10)]
    source.close()
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(10))
    assert frames[0].frame().image.shape == (360, 640, 3)
    assert all(a.captured_at <= b.captured_at for a, b in itertools.pairwise(frames))


def test_connection_test_over_rtsp(hamilton_rtsp: RtspServer) -> None:
    result = test_connection(hamilton_rtsp.url, timeout=15)
    assert result.ok, result.message
    assert (result.width, result.height, result.kind) == (640, 360, "rtsp")
    missing = test_connection(hamilton_rtsp.url.replace("/cam", "/nothing"), timeout=15)
    assert not missing.ok
    assert "the server answered but sent no video" in missing.message


def test_worker_connects_over_tcp_and_receives_frames(
    hamilton_rtsp: RtspServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator's UDP setting for OpenCV must not win: each RTSP container is opened over TCP.
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;udp")
    setups_before = len(hamilton_rtsp.client_transports())
    camera = CameraConfig(name="stage", url=hamilton_rtsp.url, max_fps=5)
    with CameraWorker(camera, SourceConfig(open_timeout_seconds=15)) as worker:
        frame = worker.next_frame(30.0)
        assert frame is not None and frame.camera == "stage"
        wait_for(lambda: worker.status().frames_in >= 30, "30 frames over RTSP")
        status = worker.status()
        assert status.state is CameraState.CONNECTED
        assert status.kind == "rtsp" and status.last_error is None
        assert status.last_frame_at is not None
    transports = hamilton_rtsp.client_transports()[setups_before:]
    assert transports, "the server saw no client SETUP"
    assert all(t.startswith("RTP/AVP/TCP") for t in transports), transports  # never UDP


@pytest.mark.slow
def test_worker_reconnects_after_the_server_restarts(
    hamilton_clip: Path, record_property: pytest.RecordProperty
) -> None:
    config = SourceConfig(
        reconnect_initial_seconds=0.5,
        reconnect_max_seconds=2.0,
        open_timeout_seconds=10,
        read_timeout_seconds=5,
    )
    with rtsp_stream(hamilton_clip) as server:
        camera = CameraConfig(name="stage", url=server.url, max_fps=5)
        with CameraWorker(camera, config) as worker:
            wait_for(lambda: worker.status().frames_in > 0, "first frames")
            assert worker.status().state is CameraState.CONNECTED

            server.stop()  # node and ffmpeg killed: the camera is gone
            lost = lambda: worker.status().state is not CameraState.CONNECTED  # noqa: E731
            wait_for(lost, "the worker to notice the loss")
            frames_before = worker.status().frames_in
            assert worker.status().reconnects == 0

            server.start()  # same ports, a fresh publisher
            restarted = time.monotonic()

            def back() -> bool:
                status = worker.status()
                return status.state is CameraState.CONNECTED and status.frames_in > frames_before

            wait_for(back, "frames after the restart", timeout=60)
            record_property(
                "reconnect_seconds_after_restart", round(time.monotonic() - restarted, 2)
            )
            status = worker.status()
            assert status.reconnects >= 1
            states = [change.state for change in status.history]
            # connected -> reconnecting (stream lost) [-> failed while the server was down]
            # -> connected again
            lost_at = states.index(CameraState.RECONNECTING)
            assert CameraState.CONNECTED in states[:lost_at]
            assert CameraState.CONNECTED in states[lost_at:]
            loss = status.history[lost_at]
            assert loss.error is not None and loss.error.startswith(
                f"lost the stream from {server.url}"
            )
        assert worker.status().state is CameraState.STOPPED


def test_server_processes_are_killed_even_when_the_test_fails(hamilton_clip: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), rtsp_stream(hamilton_clip) as server:
        children = server.processes()
        assert len(children) == 2 and server.running
        assert describe_status(server.url) == 200
        assert describe_status(server.url.replace("/cam", "/other")) == 404
        raise RuntimeError("boom")
    assert all(child.poll() is not None for child in children)
    assert not server.running


@pytest.mark.slow
def test_worker_recovers_from_a_stalled_stream(hamilton_clip: Path) -> None:
    """The server stays up but the publisher stops: no packets, the connection stays open.
    The read timeout must end the read, and the worker must reconnect once the stream is back."""
    config = SourceConfig(
        reconnect_initial_seconds=0.5,
        reconnect_max_seconds=1.0,
        open_timeout_seconds=5,
        read_timeout_seconds=1,
    )
    with rtsp_stream(hamilton_clip) as server:
        camera = CameraConfig(name="stage", url=server.url, max_fps=5)
        with CameraWorker(camera, config) as worker:
            wait_for(lambda: worker.status().frames_in > 0, "first frames")
            server.stop_publisher()
            wait_for(
                lambda: worker.status().state is not CameraState.CONNECTED,
                "the stall to be noticed",
            )
            frames_before = worker.status().frames_in
            server.start_publisher()
            wait_for(
                lambda: (
                    worker.status().state is CameraState.CONNECTED
                    and worker.status().frames_in > frames_before
                ),
                "frames after the publisher came back",
                timeout=60,
            )
            status = worker.status()
            assert status.reconnects >= 1
            lost = [c for c in status.history if c.state is CameraState.RECONNECTING]
            assert lost and (lost[0].error or "").startswith("lost the stream from")
