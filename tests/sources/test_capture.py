"""Source kinds, URL redaction, opening errors, and the file source on the Hamilton clip."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.sources import FileSource, StreamSource, open_capture, redact_url, source_kind

# The variable OpenCV read (and Vigil once wrote from camera threads); PyAV never looks at it.
OPENCV_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("clip.mp4", "file"),
        ("/data/cam 1.mkv", "file"),
        ("file:///data/clip.mp4", "file"),
        ("rtsp://10.0.0.5:554/stream1", "rtsp"),
        ("RTSP://cam.local/live", "rtsp"),
        ("rtsps://cam.local/live", "rtsp"),
        ("http://10.0.0.7/mjpg/video.mjpg", "http"),
        ("https://cam.local/video", "http"),
    ],
)
def test_source_kind(url: str, kind: str) -> None:
    assert source_kind(url) == kind


def test_unsupported_scheme_is_a_source_error_naming_the_fix() -> None:
    with pytest.raises(SourceError, match=r"scheme 'ftp://' is not handled.*rtsp://host:port/path"):
        source_kind("ftp://user:pw@host/clip.mp4")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/s1", "rtsp://admin:***@10.0.0.5:554/s1"),
        ("http://u:p@cam/video?x=1", "http://u:***@cam/video?x=1"),
        ("rtsp://10.0.0.5/s1", "rtsp://10.0.0.5/s1"),
        ("rtsp://viewer@10.0.0.5/s1", "rtsp://viewer@10.0.0.5/s1"),
        ("/path/clip.mp4", "/path/clip.mp4"),
    ],
)
def test_redact_url_masks_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return path


def _truncated_clip(tmp: Path) -> Path:
    path = tmp / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.mp4", r"video file not found: .*missing\.mp4\. Check the path"),
        (lambda tmp: tmp, r"is a folder, not a video file\. Give the path of a video file"),
        (_text_file, r"cannot read .*notes\.mp4 as video: not a video file.* Convert it with"),
        (_empty_file, r"cannot read .*empty\.mp4 as video"),
        (_truncated_clip, r"cannot read .*broken\.mp4 as video"),
    ],
)
def test_bad_files_raise_source_error_with_path_and_fix(
    tmp_path: Path, make, expected: str
) -> None:
    with pytest.raises(SourceError, match=expected) as info:
        open_capture(str(make(tmp_path)), SourceConfig())
    assert info.value.exit_code == 3


def test_stream_source_refuses_a_file() -> None:
    with pytest.raises(SourceError, match="is a file, not a stream"):
        StreamSource("/tmp/clip.mp4", "cam")


@pytest.mark.shared
def test_file_source_stamps_video_time(hamilton_clip: Path) -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    source = FileSource(hamilton_clip, "stage", start=start)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert len(frames) == 275
    assert [f.index for f in frames] == list(range(275))
    assert frames[0].captured_at == start
    # 29.97 fps: frame i is at i * 1001/30000 s of video time, whatever the decode speed.
    for i in (1, 30, 274):
        expected = start + timedelta(seconds=i * 1001 / 30000)
        assert abs((frames[i].captured_at - expected).total_seconds()) < 0.001
    assert frames[0].frame().image.shape == (360, 640, 3)
    assert frames[0].camera == "stage"
    assert source.read() is None  # closed


@pytest.mark.shared
def test_looping_file_source_keeps_counting_and_time_keeps_increasing(hamilton_clip: Path) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    source = FileSource(hamilton_clip, "loop", loop=True, start=start)
    frames = [source.read() for _ in range(600)]  # more than two passes of 275 frames
    source.close()
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(600))
    times = [f.captured_at for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))
    # frame 275 is the first of the second pass: one frame period after frame 274
    gap = (times[275] - times[274]).total_seconds()
    assert abs(gap - 1001 / 30000) < 0.002


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_rtsp_is_opened_over_tcp_per_container_and_the_environment_is_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import av

    opened: list[dict[str, object]] = []

    def fake_open(url: str, **kwargs: object) -> object:
        opened.append({"url": url, **kwargs})
        raise av.error.ConnectionRefusedError(111, "Connection refused", url)

    monkeypatch.setattr(av, "open", fake_open)
    monkeypatch.setenv(OPENCV_OPTIONS, "rtsp_transport;udp")
    config = SourceConfig(open_timeout_seconds=2, read_timeout_seconds=3)
    for url in ("rtsp://127.0.0.1:9/x", "http://127.0.0.1:9/v.mjpg"):
        with pytest.raises(SourceError, match="connection refused"):
            open_capture(url, config)
    rtsp, http = opened
    assert rtsp["options"] == {"rtsp_transport": "tcp"} and rtsp["timeout"] == (2.0, 3.0)
    assert http["options"] == {} and http["timeout"] == (2.0, 3.0)
    assert os.environ[OPENCV_OPTIONS] == "rtsp_transport;udp"  # neither read nor written


def test_a_refused_rtsp_connection_is_named() -> None:
    with pytest.raises(SourceError, match="connection refused"):
        open_capture(f"rtsp://127.0.0.1:{_unused_port()}/x", SourceConfig(open_timeout_seconds=1))


def test_importing_sources_touches_no_environment() -> None:
    code = (
        "import os, vigil.sources, vigil.bench.decode; "
        "print(os.environ.get('OPENCV_FFMPEG_CAPTURE_OPTIONS'))"
    )
    env = {k: v for k, v in os.environ.items() if k != OPENCV_OPTIONS}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "None"
