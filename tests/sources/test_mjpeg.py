"""HTTP MJPEG: OpenCV reads a real multipart/x-mixed-replace stream served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import CameraConfig, SourceConfig
from vigil.errors import SourceError
from vigil.sources import CameraState, CameraWorker, StreamSource, test_connection
from waiting import wait_for

from .mjpeg_server import mjpeg_server

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def clip_jpegs(hamilton_clip: Path) -> list[bytes]:
    capture = cv2.VideoCapture(str(hamilton_clip))
    jpegs = []
    for _ in range(30):
        ok, image = capture.read()
        assert ok
        jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    capture.release()
    return jpegs


def test_stream_source_reads_mjpeg_frames(clip_jpegs: list[bytes]) -> None:
    reference = cv2.imdecode(np.frombuffer(clip_jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    with mjpeg_server(clip_jpegs) as url:
        source = StreamSource(url, "door", SourceConfig(open_timeout_seconds=10))
        assert source.kind == "http"
        before = datetime.now(UTC)
        frames = [source.read() for _ in range(5)]
        source.close()
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    first = frames[0].frame().image
    assert first.shape == (360, 640, 3)
    assert all(f.captured_at >= before for f in frames)  # live: wall-clock time
    # the first frame is the first JPEG served (same pixels up to decoder rounding)
    assert np.abs(first.astype(int) - reference.astype(int)).mean() < 2.0


def test_worker_runs_on_mjpeg(clip_jpegs: list[bytes]) -> None:
    with mjpeg_server(clip_jpegs) as url:
        camera = CameraConfig(name="door", url=url, max_fps=5)
        with CameraWorker(camera, SourceConfig(open_timeout_seconds=10)) as worker:
            frame = worker.next_frame(30.0)
            assert frame is not None and frame.camera == "door"
            wait_for(lambda: worker.status().frames_in >= 10, "ten MJPEG frames")
            status = worker.status()
            assert status.state is CameraState.CONNECTED
            assert status.kind == "http"
            assert status.last_frame_at is not None
        assert worker.status().state is CameraState.STOPPED


def test_connection_test_on_mjpeg(clip_jpegs: list[bytes]) -> None:
    with mjpeg_server(clip_jpegs) as url:
        result = test_connection(url, timeout=10)
        assert result.ok, result.message
        assert (result.width, result.height, result.kind) == (640, 360, "http")
        missing = test_connection(url.replace("video.mjpg", "nothing"), timeout=10)
    assert not missing.ok
    assert "the server answered but sent no video" in missing.message


def test_http_server_that_is_gone_is_a_clear_error(clip_jpegs: list[bytes]) -> None:
    with mjpeg_server(clip_jpegs) as url:
        pass
    with pytest.raises(
        SourceError, match=r"cannot open http://127\.0\.0\.1:\d+/video\.mjpg: connection refused"
    ):
        StreamSource(url, "door")
