"""Public transparency document: small-count suppression, months, signing, and the CLI
(`vigil report verify`, `vigil keys public`) through its runner, tampered copies included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.accountability.public_report import (
    HIDDEN,
    build_public_payload,
    month_starts,
    next_month,
    sign_payload,
    suppress,
)
from vigil.accountability.signing import load_or_create_signer, settings_signer
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import AppContext
from vigil.db.models import RetentionRun
from vigil.timeutil import utcnow


@pytest.mark.parametrize(
    ("count", "shown"), [(0, 0), (1, HIDDEN), (4, HIDDEN), (5, 5), (1234, 1234)]
)
def test_small_counts_are_hidden_zero_stays(count: int, shown: object) -> None:
    assert suppress(count) == shown


def test_months_cross_the_year() -> None:
    end = datetime(2026, 2, 10, 12, tzinfo=UTC)
    starts = month_starts(end, 3)
    assert [f"{m:%Y-%m}" for m in starts] == ["2025-12", "2026-01", "2026-02"]
    assert next_month(starts[0]) == datetime(2026, 1, 1, tzinfo=UTC)


def _signed_file(context: AppContext, tmp_path: Path) -> Path:
    with context.db.write() as s:
        s.add(RetentionRun(ran_at=utcnow(), deleted={"candidate_alerts": 7, "crops": 2}))
    payload = build_public_payload(context.db, context.settings, utcnow(), months=2)
    doc = sign_payload(payload, settings_signer(context.settings))
    path = tmp_path / "transparency.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=settings_environment(settings))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_retention_deletions_by_month(context: AppContext, tmp_path: Path) -> None:
    doc = json.loads(_signed_file(context, tmp_path).read_text())
    month = doc["payload"]["deployment"][-1]
    assert month["retention_deletions"] == {"candidate_alerts": 7, "crops": HIDDEN}
    assert month["retention_deletions_total"] == 9
    assert doc["payload"]["deployment"][0]["retention_deletions_total"] == 0


def test_keys_public_prints_the_signing_key(context: AppContext) -> None:
    signer = settings_signer(context.settings)
    code, out = run(context.settings, "keys", "public")
    assert code == 0 and out.strip() == signer.public_b64
    code, pem = run(context.settings, "keys", "public", "--pem")
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem.strip() == signer.public_pem.strip()


def test_report_verify_good_copy(context: AppContext, tmp_path: Path) -> None:
    path = _signed_file(context, tmp_path)
    key = run(context.settings, "keys", "public")[1].strip()
    code, out = run(context.settings, "report", "verify", str(path), "--public-key", key)
    assert code == 0 and "signature valid" in out


def _tamper(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["payload"]["deployment"][-1]["maintenance_hours"] = 999
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_report_verify_refuses_a_tampered_copy(context: AppContext, tmp_path: Path) -> None:
    path = _signed_file(context, tmp_path)
    _tamper(path)
    key = settings_signer(context.settings).public_b64
    code, out = run(context.settings, "report", "verify", str(path), "--public-key", key)
    assert code == 8 and "altered" in out


def test_report_verify_refuses_another_key(context: AppContext, tmp_path: Path) -> None:
    path = _signed_file(context, tmp_path)
    other = load_or_create_signer(tmp_path / "other.key").public_b64
    code, out = run(context.settings, "report", "verify", str(path), "--public-key", other)
    assert code == 8 and "wrong public key" in out


@pytest.mark.parametrize(
    ("content", "key", "code", "text"),
    [
        (None, "good", 2, "does not exist"),
        ("{not json", "good", 8, "not a JSON document"),
        ('{"payload": {}}', "good", 8, "no signature"),
        ('{"a": 1}', "good", 8, "no 'payload'"),
        ("{}", "not-base64!", 2, "not a base64 Ed25519 public key"),
    ],
)
def test_report_verify_bad_input(
    context: AppContext, tmp_path: Path, content: str | None, key: str, code: int, text: str
) -> None:
    path = tmp_path / "copy.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    if key == "good":
        key = settings_signer(context.settings).public_b64
    got, out = run(context.settings, "report", "verify", str(path), "--public-key", key)
    assert got == code and text in out, out
