"""The dashboard's "test connection" on files and dead cameras (RTSP: see test_rtsp)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vigil.sources import test_connection


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.shared
def test_file_connects_with_resolution(hamilton_clip: Path) -> None:
    result = test_connection(str(hamilton_clip), timeout=5)
    assert result.ok, result.message
    assert (result.width, result.height, result.kind) == (640, 360, "file")
    assert result.message == "connected: 640x360 file video"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://127.0.0.1:{port}/x", "cannot open rtsp://127.0.0.1:{port}/x: connection refused."),
        (
            "rtsp://admin:pw@127.0.0.1:{port}/x",
            "cannot open rtsp://admin:***@127.0.0.1:{port}/x: connection refused.",
        ),
        (
            "http://127.0.0.1:{port}/v.mjpg",
            "cannot open http://127.0.0.1:{port}/v.mjpg: connection refused.",
        ),
        (
            "rtsp://no-such-host.invalid/x",
            "cannot open rtsp://no-such-host.invalid/x: unknown host 'no-such-host.invalid'.",
        ),
        ("/no/such/clip.mp4", "video file not found: /no/such/clip.mp4."),
        ("gopher://cam/x", "unsupported video source 'gopher://cam/x'"),
    ],
)
def test_failures_are_reported_not_raised(url: str, expected: str) -> None:
    port = unused_port()
    result = test_connection(url.format(port=port), timeout=3)
    assert not result.ok
    assert result.message.startswith(expected.format(port=port))
    assert "pw" not in result.message and "pw" not in result.url
    assert result.width is None


def test_files_can_be_refused() -> None:
    result = test_connection("/etc/hostname", timeout=3, allow_files=False)
    assert not result.ok
    assert "only rtsp:// and http(s):// are accepted" in result.message
