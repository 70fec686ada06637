"""Accountability CLI through the runner: audit verify/list/sign, retention run, export."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accountability.realdata import Enrolled, clip_frame, plain_crop, real_alert
from vigil.accountability import audit
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import AppContext


def _env(settings: Settings) -> dict[str, str]:
    return settings_environment(settings)


def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=_env(settings))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture()
def ctx(context: AppContext) -> AppContext:
    with context.db.write() as s:
        for i in range(12):
            audit.record(s, actor="tester", action="test.event", target=f"t{i}", details={"i": i})
    return context


@pytest.mark.sqlite_only  # tampers through sqlite3
def test_audit_verify_ok_then_tampered(ctx: AppContext, settings: Settings) -> None:
    assert run(settings, "audit", "sign")[0] == 0
    code, out = run(settings, "audit", "verify")
    assert code == 0 and "audit chain intact" in out and "12 records" in out
    with sqlite3.connect(settings.home / "vigil.db") as conn:
        conn.execute("UPDATE audit_events SET actor='someone else' WHERE id=7")
    code, out = run(settings, "audit", "verify")
    assert code == 8
    assert "record 7 modified" in out


def test_audit_verify_json(ctx: AppContext, settings: Settings) -> None:
    code, out = run(settings, "audit", "verify", "--json")
    assert code == 0 and '"ok": true' in out


def test_audit_verify_with_an_auditors_public_key(ctx: AppContext, settings: Settings) -> None:
    from vigil.accountability.signing import load_or_create_signer, settings_signer

    assert run(settings, "audit", "sign")[0] == 0
    own = settings_signer(settings).public_b64
    assert run(settings, "audit", "verify", "--public-key", own)[0] == 0
    other = load_or_create_signer(settings.home / "other.key").public_b64
    code, out = run(settings, "audit", "verify", "--public-key", other)
    assert code == 8 and "signature" in out


def test_audit_list_filters(ctx: AppContext, settings: Settings) -> None:
    run(settings, "retention", "run")
    code, out = run(settings, "audit", "list", "--action", "retention", "--limit", "5")
    assert code == 0 and "retention.purge" in out and "test.event" not in out


def test_retention_run_reports_counts(ctx: AppContext, settings: Settings) -> None:
    code, out = run(settings, "retention", "run")
    assert code == 0 and "candidate_alerts 0" in out and "audit_events 0" in out


@pytest.mark.slow
def test_export_bundle_signed_audited_and_checked(
    lin: Enrolled, onnx_ctx: AppContext, hamilton_clip: Path, tmp_path: Path
) -> None:
    settings = onnx_ctx.settings
    alert_id = real_alert(lin, clip_frame(hamilton_clip, 30))
    real_alert(lin, clip_frame(hamilton_clip, 120))
    bundle = tmp_path / "case.zip"
    code, out = run(settings, "export", "-o", str(bundle), "--alert", str(alert_id))
    assert code == 2 and "reason" in out and not bundle.exists()
    code, out = run(
        settings,
        "export",
        "-o",
        str(bundle),
        "--alert",
        str(alert_id),
        "--templates",
        "--reason",
        "Court order 12/2026",
    )
    assert code == 0, out
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        assert names == {
            "alerts.json",
            "manifest.json",
            "manifest.sig",
            f"alerts/{alert_id}.jpg",
            "templates/1.jpg",
        }
        assert zf.read(f"alerts/{alert_id}.jpg") == plain_crop(onnx_ctx, alert_id)
        assert b"Court order 12/2026" in zf.read("manifest.json")
    code, out = run(settings, "export", "verify", str(bundle))
    assert code == 0 and "verified" in out
    code, out = run(settings, "audit", "list", "--action", "export")
    assert "export" in out and "case.zip" in out
    assert run(settings, "audit", "verify")[0] == 0
    # Tamper: replace the crop inside the bundle.
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(forged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, b"\xff\xd8\xff forged" if name.startswith("alerts/") else data)
    code, out = run(settings, "export", "verify", str(forged))
    assert code == 8 and "modified" in out
    code, out = run(settings, "export", "verify", str(forged), "--public-key", "AAAA")
    assert code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "-o", "x.zip", "--reason", "r"], "nothing selected"),
        (["export", "--reason", "r", "--alert", "1"], "--output is required"),
        (["export", "-o", "x.zip", "--reason", "r", "--alert", "99"], "no alert"),
        (["export", "verify", "missing.zip"], "does not exist"),
        (["keys", "rotate"], "--yes"),
        (["audit", "list", "--since", "last tuesday"], "ISO 8601"),
    ],
)
def test_cli_errors_are_clear(
    ctx: AppContext,
    settings: Settings,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run(settings, *args)
    assert code != 0
    assert message in out
