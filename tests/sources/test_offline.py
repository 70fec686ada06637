"""Offline file reading for `vigil analyze`: every frame in order, capped by video time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.errors import SourceError
from vigil.sources import FileReader, iter_file_frames

pytestmark = pytest.mark.shared

FRAME_SECONDS = 1001 / 30000  # the clip is 29.97 fps


@pytest.mark.parametrize(
    ("max_fps", "expected_count", "step"),
    [
        (None, 275, 1),  # no cap: every frame
        (30.0, 275, 1),  # cap above the file's rate
        (5.0, 46, 6),  # every 6th frame: 0, 6, ..., 270
        (10.0, 92, 3),
        (1.0, 10, 30),
    ],
)
def test_cap_skips_by_video_time(
    hamilton_clip: Path, max_fps: float | None, expected_count: int, step: int
) -> None:
    reader = FileReader(hamilton_clip, "stage", max_fps)
    indices = [frame.index for frame in reader]
    assert indices == list(range(0, 275, step))[:expected_count]
    assert len(indices) == expected_count
    assert reader.decoded == 275
    assert reader.skipped_by_cap == 275 - expected_count


def test_iter_file_frames_stamps_start_plus_video_time(hamilton_clip: Path) -> None:
    start = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    frames = list(iter_file_frames(hamilton_clip, "stage", 5.0, start=start))
    for frame in frames:
        expected = start + timedelta(seconds=frame.index * FRAME_SECONDS)
        assert abs((frame.captured_at - expected).total_seconds()) < 0.001
        assert frame.captured_at.tzinfo is not None
        assert frame.camera == "stage"
    assert frames[-1].captured_at - frames[0].captured_at > timedelta(seconds=9)


def test_default_start_is_now(hamilton_clip: Path) -> None:
    before = datetime.now(UTC)
    first = next(iter_file_frames(hamilton_clip, "stage"))
    assert before <= first.captured_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.mp4", None, r"video file not found: .*missing\.mp4"),
        ("notes.txt", b"not a video\n" * 50, r"cannot read .*notes\.txt as video"),
        ("photo.jpg.mp4", b"\xff\xd8\xff\xe0" + b"\x00" * 200, r"photo\.jpg\.mp4 holds no frame"),
    ],
)
def test_unreadable_files_raise_at_call_time(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=expected):
        iter_file_frames(path, "stage", 5.0)  # raised before the first frame is asked for


def test_a_stream_url_is_refused(hamilton_clip: Path) -> None:
    with pytest.raises(SourceError, match="is a stream URL, not a video file"):
        iter_file_frames("rtsp://127.0.0.1:8554/cam", "stage")
