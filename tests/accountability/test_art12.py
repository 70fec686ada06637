"""Every use is logged (EU AI Act Art 12(3)): start and end of each use, the reference database
checked, the input that produced a match and who verified it; the chain then verifies and the
transparency report counts the outcome. Real pipeline (`vigil analyze`) on the Hamilton clip.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from accountability.realdata import Enrolled
from vigil.accountability.chain import verify_chain
from vigil.accountability.report import build_report
from vigil.accountability.signing import settings_signer
from vigil.cli.main import app
from vigil.config import settings_environment
from vigil.context import AppContext
from vigil.db.models import AuditEvent
from vigil.services.reviews import ReviewService
from vigil.timeutil import utcnow

pytestmark = pytest.mark.slow


def _events(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.db.read() as s:
        return list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        )


def test_a_use_is_logged_from_start_to_verification(
    lin: Enrolled, onnx_ctx: AppContext, hamilton_clip: Path
) -> None:
    s = onnx_ctx.settings
    env = settings_environment(s)
    started = utcnow()
    result = CliRunner().invoke(app, ["analyze", str(hamilton_clip), "--camera", "stage"], env=env)
    assert result.exit_code == 0, result.output

    (start,) = _events(onnx_ctx, "camera.session_start")
    (stop,) = _events(onnx_ctx, "camera.session_stop")
    assert start.target == stop.target == "stage" and start.id < stop.id
    assert start.details["watchlists"] == ["hamilton"]  # the reference database checked
    assert start.details["pack"] == "onnx" and "threshold" in start.details
    candidates = _events(onnx_ctx, "alert.candidate")
    assert candidates and all(start.id < c.id < stop.id for c in candidates)
    first = candidates[0]
    assert first.details["input"]["camera"] == "stage"  # the input that produced the match
    assert {"from", "to", "template_id"} <= set(first.details["input"])
    assert first.details["authorization"] == "ORD-LIN-1"

    alert_id = int(first.target.split(":")[1])
    reviews = ReviewService(onnx_ctx.db)
    reviews.review(alert_id, "officer_a", "confirm")
    reviews.review(alert_id, "officer_b", "confirm")
    verified = _events(onnx_ctx, "alert.review")
    assert [e.actor for e in verified] == ["officer_a", "officer_b"]  # who verified it
    assert verified[-1].details["status"] == "confirmed"

    assert verify_chain(onnx_ctx.db, settings_signer(s)).ok
    report = build_report(
        onnx_ctx.db, s, started - timedelta(minutes=1), utcnow() + timedelta(minutes=1)
    )
    (stage,) = report.cameras
    assert (stage.camera, stage.confirmed, stage.alerts) == ("stage", 1, len(candidates))
    assert stage.faces > 0 and stage.sessions == 1
