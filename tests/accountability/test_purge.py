"""Revoking or refusing an authorization leaves nothing of its biometric data behind.

Real data: Lin-Manuel Miranda enrolled from his photo, alerts from Hamilton clip frames with the
ONNX pack. A second authorization (Alex Lacamoire) is the positive control: its data must still
be found by the same scan, which proves the scan can see what it looks for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, select, text

from accountability.realdata import Enrolled, clip_frame, enroll, plain_crop, real_alert
from vigil.config import settings_environment
from vigil.context import AppContext
from vigil.db.models import Alert, Subject, Template
from vigil.domain.enums import AuthorizationStatus
from vigil.services.authorizations import AuthorizationService

pytestmark = pytest.mark.slow


def _blobs(ctx: AppContext, who: Enrolled, alert_ids: list[int]) -> dict[str, bytes]:
    """Every stored biometric value of one subject, sealed and in the clear."""
    found: dict[str, bytes] = {"embedding": who.vector.astype(np.float32).tobytes()[:64]}
    with ctx.db.read() as s:
        subject = s.scalar(select(Subject).where(Subject.name == who.subject))
        assert subject is not None
        for tpl in s.scalars(select(Template).where(Template.subject_id == subject.id)):
            aad = f"template:{tpl.id}".encode()
            found[f"template{tpl.id}.sealed"] = tpl.vector
            found[f"template{tpl.id}.photo.sealed"] = tpl.photo or b""
            found[f"template{tpl.id}.photo.jpeg"] = ctx.cipher.open(
                tpl.photo or b"", aad + b":photo"
            )
    for alert_id in alert_ids:
        with ctx.db.read() as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            found[f"alert{alert_id}.sealed"] = alert.crop or b""
        found[f"alert{alert_id}.jpeg"] = plain_crop(ctx, alert_id)
    return found


def _on_disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _leftovers(disk: bytes, blobs: dict[str, bytes]) -> list[str]:
    """Names of blobs of which any 32-byte slice (start, middle, end) is still on disk."""
    hits = []
    for name, blob in blobs.items():
        assert len(blob) >= 64, name
        mid = len(blob) // 2
        if any(part in disk for part in (blob[:32], blob[mid : mid + 32], blob[-32:])):
            hits.append(name)
    return hits


def _rows_mentioning(ctx: AppContext, word: str) -> list[str]:
    """Tables (other than the audit log) with a row whose text mentions ``word``."""
    hits = []
    with ctx.db.read() as s:
        for table in inspect(s.bind).get_table_names():
            if table == "audit_events":
                continue
            for row in s.execute(text(f'SELECT * FROM "{table}"')):
                if word in " ".join(str(v) for v in row):
                    hits.append(table)
                    break
    return hits


@pytest.mark.parametrize("status", [AuthorizationStatus.revoked, AuthorizationStatus.refused])
def test_ending_an_authorization_purges_rows_and_bytes(
    lin: Enrolled,
    onnx_ctx: AppContext,
    photos: Path,
    hamilton_clip: Path,
    status: AuthorizationStatus,
) -> None:
    alex = enroll(
        onnx_ctx,
        photos / "alex-lacamoire.png",
        reference="ORD-ALEX",
        watchlist="band",
        subject="Alex Lacamoire",
    )
    lin_alerts = [real_alert(lin, clip_frame(hamilton_clip, i)) for i in (30, 120)]
    alex_alert = real_alert(alex, clip_frame(hamilton_clip, 60))
    lin_blobs = _blobs(onnx_ctx, lin, lin_alerts)
    alex_blobs = _blobs(onnx_ctx, alex, [alex_alert])
    home = onnx_ctx.settings.home

    purged = AuthorizationService(onnx_ctx.db).end("ORD-LIN-1", status, actor="tester")

    assert purged == {"alerts": 2, "templates": 1, "subjects": 1}
    with onnx_ctx.db.read() as s:
        assert s.scalars(select(Alert.id)).all() == [alex_alert]
    disk = _on_disk(home)
    assert _leftovers(disk, lin_blobs) == []
    assert sorted(_leftovers(disk, alex_blobs)) == sorted(
        k for k in alex_blobs if k.endswith(".sealed")
    ), "positive control: Alex's sealed data must still be found"
    assert _rows_mentioning(onnx_ctx, lin.subject) == []
    assert _rows_mentioning(onnx_ctx, alex.subject) == ["subjects"]
    assert not (home / "vigil.db-wal").exists() or (home / "vigil.db-wal").stat().st_size == 0


def test_end_to_end_analyze_then_revoke_via_cli(
    lin: Enrolled, onnx_ctx: AppContext, hamilton_clip: Path
) -> None:
    """The real pipeline stores the alerts (`vigil analyze`), the CLI revokes: nothing remains."""
    from typer.testing import CliRunner

    from vigil.cli.main import app

    s = onnx_ctx.settings
    env = settings_environment(s)
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(hamilton_clip), "--camera", "stage"], env=env)
    assert result.exit_code == 0, result.output
    with onnx_ctx.db.read() as session:
        alert_ids = list(session.scalars(select(Alert.id)))
    assert alert_ids, "the pipeline found no alert for Lin-Manuel Miranda"
    blobs = _blobs(onnx_ctx, lin, alert_ids)
    disk = _on_disk(s.home)
    assert b"JFIF" not in disk, "a plaintext JPEG is on disk"
    assert [k for k in _leftovers(disk, blobs) if not k.endswith(".sealed")] == []
    assert any(k.endswith(".sealed") for k in _leftovers(disk, blobs))  # positive control

    result = runner.invoke(app, ["authorization", "revoke", "ORD-LIN-1"], env=env)
    assert result.exit_code == 0, result.output
    assert _leftovers(_on_disk(s.home), blobs) == []
    assert _rows_mentioning(onnx_ctx, lin.subject) == []
