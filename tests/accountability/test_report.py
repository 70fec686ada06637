"""Transparency report: figures per camera and period, three formats, no personal data."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.accountability.crypto import DataCipher
from vigil.accountability.report import Report, build_report
from vigil.accountability.report_render import render, to_dict
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.db.models import (
    Alert,
    Authorization,
    CameraSession,
    FaceCount,
    RetentionRun,
    Review,
    Setting,
    Subject,
    Watchlist,
)
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus, Purpose
from vigil.timeutil import to_minute, utcnow

# Personal or identifying values seeded into the database; none may appear in any report.
SECRETS = [
    "Jane Q Citizen",
    "Joe Bloggs",
    "WL-Operation-Nightjar",
    "ORDER-77/2026",
    "reviewer_ann",
    "Judge Dredd Court",
    "Section 99 Secret Act",
]
NOW = utcnow().replace(microsecond=0)
START, END = NOW - timedelta(hours=2), NOW


def _auth(s, ref: str, purpose: Purpose, status: AuthorizationStatus, **kw) -> Authorization:
    auth = Authorization(
        reference=ref,
        legal_basis="Section 99 Secret Act",
        authority="Judge Dredd Court",
        purpose=purpose,
        status=status,
        valid_from=NOW - timedelta(days=5),
        expires_at=kw.pop("expires_at", NOW + timedelta(days=5)),
        created_at=NOW - timedelta(hours=1),
        **kw,
    )
    s.add(auth)
    s.flush()
    return auth


def _alert(
    s,
    subj: Subject,
    wl: Watchlist,
    auth: Authorization,
    camera: str,
    status: AlertStatus,
    cipher: DataCipher,
) -> None:
    when = NOW - timedelta(minutes=30)
    alert = Alert(
        camera=camera,
        subject_id=subj.id,
        watchlist_id=wl.id,
        authorization_id=auth.id,
        score=0.8,
        threshold=0.5,
        pack="onnx",
        first_seen=when,
        last_seen=when,
        status=status,
        created_at=when,
    )
    s.add(alert)
    s.flush()
    alert.crop = cipher.seal(b"\xff\xd8\xff jpeg", f"alert:{alert.id}".encode())
    s.add(Review(alert_id=alert.id, username="reviewer_ann", decision="confirm"))


@pytest.fixture()
def seeded(db: Database) -> Database:
    cipher = DataCipher(b"r" * 32)
    with db.write() as s:
        auth = _auth(s, "ORDER-77/2026", Purpose.missing_person, AuthorizationStatus.active)
        _auth(
            s,
            "ORDER-78",
            Purpose.imminent_threat,
            AuthorizationStatus.revoked,
            status_changed_at=NOW - timedelta(minutes=10),
        )
        _auth(
            s,
            "ORDER-79",
            Purpose.victim_search,
            AuthorizationStatus.active,
            expires_at=NOW - timedelta(minutes=5),
        )
        wl = Watchlist(name="WL-Operation-Nightjar", authorization_id=auth.id)
        s.add(wl)
        s.flush()
        subjects = [Subject(watchlist_id=wl.id, name=n) for n in ("Jane Q Citizen", "Joe Bloggs")]
        s.add_all(subjects)
        s.flush()
        statuses = [
            AlertStatus.confirmed,
            AlertStatus.confirmed,
            AlertStatus.confirmed,
            AlertStatus.rejected,
            AlertStatus.candidate,
        ]
        for status in statuses:
            _alert(s, subjects[0], wl, auth, "gate-north", status, cipher)
        _alert(s, subjects[1], wl, auth, "platform-2", AlertStatus.rejected, cipher)
        for i in range(10):
            s.add(
                FaceCount(
                    camera="gate-north",
                    minute=to_minute(NOW - timedelta(minutes=90 - i)),
                    faces=100,
                    tracks=10,
                    embedded_tracks=4,
                )
            )
        s.add(
            FaceCount(
                camera="platform-2",
                minute=to_minute(NOW - timedelta(minutes=20)),
                faces=7,
                tracks=2,
                embedded_tracks=1,
            )
        )
        s.add(FaceCount(camera="platform-2", minute=to_minute(NOW - timedelta(days=3)), faces=999))
        s.add(
            CameraSession(
                camera="gate-north",
                started_at=NOW - timedelta(hours=3),
                stopped_at=NOW - timedelta(hours=1),
                pack="onnx",
                threshold=0.5,
                watchlists=["WL-Operation-Nightjar"],
            )
        )
        s.add(
            RetentionRun(ran_at=NOW - timedelta(minutes=50), deleted={"crops": 3, "face_counts": 9})
        )
        s.add(
            Setting(key="threshold.dlib", value="0.9123", updated_at=NOW, updated_by="reviewer_ann")
        )
        s.add(Setting(key="threshold.dlib.fpr", value="0.001", updated_at=NOW))
    return db


@pytest.fixture()
def report(seeded: Database, settings: Settings) -> Report:
    return build_report(seeded, settings, START, END)


def test_figures_per_camera(report: Report) -> None:
    cams = {c.camera: c for c in report.cameras}
    assert set(cams) == {"gate-north", "platform-2"}
    north, platform = cams["gate-north"], cams["platform-2"]
    assert (north.faces, north.tracks, north.embedded_tracks) == (1000, 100, 40)
    assert (north.alerts, north.confirmed, north.rejected, north.pending) == (5, 3, 1, 1)
    assert north.precision == pytest.approx(0.75)
    assert (north.sessions, round(north.hours, 3)) == (1, 1.0)  # clipped to the period
    assert (platform.faces, platform.alerts, platform.rejected, platform.precision) == (
        7,
        1,
        1,
        0.0,
    )
    assert (report.total.faces, report.total.alerts, report.total.confirmed) == (1007, 6, 3)
    assert report.total.precision == pytest.approx(3 / 5)


def test_authorities_retention_threshold(report: Report) -> None:
    by_purpose = {p.purpose: p for p in report.purposes}
    assert (by_purpose["missing_person"].subjects, by_purpose["missing_person"].watchlists) == (
        2,
        1,
    )
    assert by_purpose["imminent_threat"].authorizations_in_force == 0
    a = report.authorizations
    assert (a.in_force_at_end, a.created, a.expired, a.revoked, a.refused) == (1, 3, 1, 1, 0)
    assert report.deleted == {"crops": 3, "face_counts": 9} and report.retention_runs == 1
    t = report.threshold
    assert (t.pack, t.threshold, t.source, t.measured_fpr) == ("dlib", 0.9123, "calibrated", 0.001)
    assert sum(p.faces for p in report.timeline) == 1007
    assert sum(p.alerts for p in report.timeline) == 6


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_no_personal_data_in_any_format(report: Report, fmt: str) -> None:
    text = render(report, fmt)
    assert "gate-north" in text  # positive control: the scan reads real output
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the {fmt} report"
    assert "jpeg" not in text.lower() and "base64" not in text.lower()


def test_formats_parse(report: Report) -> None:
    data = json.loads(render(report, "json"))
    assert data == json.loads(json.dumps(to_dict(report)))
    assert data["total"]["confirmed"] == 3
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert {"section": "camera", "camera": "gate-north", "metric": "rejected", "value": "1"} in rows
    html = render(report, "html")
    assert html.count("<svg") == 4 and "<script" not in html


def test_empty_period_is_an_error(seeded: Database, settings: Settings) -> None:
    from vigil.errors import InputError

    with pytest.raises(InputError, match="empty"):
        build_report(seeded, settings, END, START)


def test_cli_report(seeded: Database, settings: Settings, tmp_path: Path) -> None:
    env = settings_environment(settings)
    out = tmp_path / "r.json"
    args = [
        "report",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        "--format",
        "json",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["total"]["faces"] == 1007
    bad = CliRunner().invoke(app, ["report", "--format", "pdf"], env=env)
    assert bad.exit_code == 2 and "html, json or csv" in bad.output
