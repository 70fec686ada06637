"""Threshold governance: `vigil calibrate` measures on LFW, sets the threshold, audits it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.accountability.calibrate import apply_threshold, calibrate
from vigil.accountability.threshold import threshold_in_force
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import AppContext
from vigil.db.models import AuditEvent, Setting
from vigil.db.session import Database
from vigil.errors import ConfigError, InputError
from vigil.evaluation.lfw import FprThreshold


def _chosen(threshold: float, fpr: float) -> FprThreshold:
    return FprThreshold(
        threshold=threshold,
        target_fpr=0.001,
        fpr=fpr,
        tpr=0.9,
        different_pairs=3000,
        same_pairs=3000,
    )


def test_each_change_is_stored_and_audited(db: Database, settings: Settings) -> None:
    first = apply_threshold(db, "dlib", _chosen(0.91, 0.0007), None, actor="tester")
    second = apply_threshold(db, "dlib", _chosen(0.93, 0.0003), None, actor="tester")
    assert (first.previous, second.previous) == (None, 0.91)
    with db.read() as s:
        assert threshold_in_force(s, settings, "dlib") == 0.93
        assert s.get(Setting, "threshold.dlib.fpr").value == "0.0003"
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "threshold.change")).all()
    assert [(e.details["old"], e.details["new"], e.details["measured_fpr"]) for e in events] == [
        (None, 0.91, 0.0007),
        (0.91, 0.93, 0.0003),
    ]


@pytest.mark.parametrize(
    ("pack", "fpr", "limit", "error"),
    [
        ("onnx", 0.0, 10, InputError),
        ("onnx", 1.0, 10, InputError),
        ("onnx", 0.01, 1, InputError),
        ("sphereface", 0.01, 10, ConfigError),
    ],
)
def test_bad_calibration_requests(
    db: Database,
    onnx_settings: Settings,
    shared_dir: Path,
    pack: str,
    fpr: float,
    limit: int,
    error: type[Exception],
) -> None:
    lfw = shared_dir / "data" / "lfw"
    with pytest.raises(error):
        calibrate(db, onnx_settings, pack, fpr, lfw=lfw, limit_pairs=limit, actor="tester")
    with db.read() as s:
        assert s.scalar(select(Setting)) is None


@pytest.mark.slow
def test_cli_calibrate_on_lfw(onnx_context: AppContext, onnx_settings: Settings) -> None:
    ctx = onnx_context
    env = settings_environment(onnx_settings)
    result = CliRunner().invoke(
        app, ["calibrate", "--pack", "onnx", "--fpir", "0.02", "--limit-pairs", "20"], env=env
    )
    assert result.exit_code == 0, result.output
    with ctx.db.read() as s:
        threshold = float(s.get(Setting, "threshold.onnx").value)
        fpr = float(s.get(Setting, "threshold.onnx.fpr").value)
        measurement = json.loads(s.get(Setting, "threshold.onnx.calibration").value)
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "threshold.change"))
        assert threshold_in_force(s, onnx_settings, "onnx") == threshold
    assert 0.0 <= fpr <= 0.02
    assert measurement["pairs"] == 200 and measurement["different_pairs"] == 100
    assert -1.0 < threshold < 1.0 and threshold != onnx_settings.onnx.threshold
    assert event is not None and event.details["measured_fpr"] == fpr
    assert event.details["new"] == threshold
    assert f"{threshold:.4f}" in result.output
