"""The decode benchmark (vigil.bench.decode) runs and reports; no speed is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.bench.decode import main, measure_decode, measure_workers

pytestmark = pytest.mark.shared


def test_measure_decode_counts_frames(hamilton_clip: Path) -> None:
    figures = measure_decode(str(hamilton_clip), max_frames=20)
    assert figures.frames == 20
    assert (figures.width, figures.height, figures.kind) == (640, 360, "file")
    assert figures.fps > 0


def test_whole_file_stops_at_its_end(hamilton_clip: Path) -> None:
    assert measure_decode(str(hamilton_clip)).frames == 274  # after the first frame


def test_measure_workers_sums_the_workers(hamilton_clip: Path) -> None:
    figures = measure_workers(str(hamilton_clip), workers=2, seconds=0.5)
    assert figures.workers == 2
    assert figures.frames_in > 0


def test_cli_prints_json_and_maps_errors(
    hamilton_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(hamilton_clip), "--frames", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 5
    assert main(["/no/such/clip.mp4"]) == 3
    assert "video file not found: /no/such/clip.mp4" in capsys.readouterr().err
