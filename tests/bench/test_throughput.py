"""Throughput benchmark: the pipeline beside the naive every-frame loop on the Hamilton clip.

Figures are never asserted (speed is measured by the benchmark, not tests); what is checked is
that both loops ran on the same clip, alerted on the same people, and that the pipeline embedded
far fewer faces than the naive loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.accountability.threshold import configured_threshold
from vigil.bench.throughput import memory_gallery, run_throughput
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.models.registry import create_pack

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def test_pipeline_and_naive_loop_alert_on_the_same_people(
    onnx_settings: Settings, photos: Path, hamilton_clip: Path
) -> None:
    pack = create_pack(onnx_settings)
    gallery = memory_gallery(
        onnx_settings,
        pack,
        [photos / "lin-manuel-miranda.png", photos / "alex-lacamoire.png"],
        configured_threshold(onnx_settings, pack.name),
    )
    result = run_throughput(onnx_settings, pack, gallery, hamilton_clip, max_fps=None, naive=True)
    pipe, naive = result.pipeline, result.naive
    assert naive is not None
    assert pipe.frames_decoded == naive.frames_decoded == naive.frames_analysed == 275
    assert pipe.frames_analysed == 275  # no fps cap: the very same frames
    assert pipe.subjects == naive.subjects == ("lin-manuel-miranda",)
    assert pipe.alerts == 1 and naive.alerts > 10  # the naive loop matches frame after frame
    # the pipeline scans whole frames every onnx.full_scan_every-th frame and near its tracks
    # between: a face entering away from them is found a frame later (622 against 632 here)
    assert 0.95 * naive.faces_detected <= pipe.faces_detected <= naive.faces_detected
    assert pipe.faces_embedded < naive.faces_embedded / 5
    summary = result.summary()
    assert summary["same_subjects"] is True and summary["speedup"] is not None


def test_bench_throughput_cli_json(
    onnx_settings: Settings, photos: Path, hamilton_clip: Path
) -> None:
    env = settings_environment(onnx_settings)
    args = ["bench", "throughput", str(hamilton_clip), "--pack", "onnx", "--json"]
    args += ["--photo", str(photos / "lin-manuel-miranda.png")]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["pipeline"]["pack"] == "onnx" and data["naive"] is None
    assert data["pipeline"]["frames_decoded"] == 275
    assert data["pipeline"]["frames_analysed"] < 275  # the default 5 fps camera cap
    assert data["pipeline"]["subjects"] == ["lin-manuel-miranda"]
    assert "video frames/s" in result.output
