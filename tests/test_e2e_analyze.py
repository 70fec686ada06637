"""End to end: enroll from real photos, `vigil analyze` the Hamilton clip, check the alerts and
that nothing about anyone else was stored anywhere (database blobs and every file of the data
folder, scanned as raw bytes)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.accountability.crypto import MAGIC
from vigil.accountability.threshold import threshold_for_size
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import build_context

pytestmark = [pytest.mark.slow, pytest.mark.shared]

LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"
DIM = 128  # both packs embed to 128 dimensions
# Tables that may hold rows after enrolling and analysing; every other table must stay empty.
EXPECTED_TABLES = {
    "alembic_version",
    "authorizations",
    "watchlists",
    "subjects",
    "templates",
    "alerts",
    "alert_sightings",  # one row per MATCHED track of an alert, never a passer-by's
    "sqlite_sequence",  # SQLite's AUTOINCREMENT counters (ids never reused)
    "subject_keys",  # one sealed random key per ENROLLED subject (its audit pseudonym)
    "audit_events",
    "face_counts",
    "camera_sessions",
}
JPEG_SIGNATURES = (b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"JFIF\x00", b"Exif\x00")


def unit_vectors_in(data: bytes, dim: int = DIM) -> int:
    """How many plaintext float32 unit vectors of ``dim`` values (an embedding) lie in ``data``."""
    found = 0
    for offset in range(4):
        n = (len(data) - offset) // 4
        if n < dim:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            values = np.frombuffer(data, dtype="<f4", count=n, offset=offset).astype(np.float64)
        ok = np.isfinite(values) & (np.abs(values) <= 1.0)
        squares = np.where(ok, values * values, 0.0)
        nonzero = ok & (np.abs(values) > 1e-6)

        def window(x: np.ndarray) -> np.ndarray:
            c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
            return c[dim:] - c[:-dim]

        hits = (
            (np.abs(window(squares) - 1.0) < 1e-3)
            & (window(~ok) == 0)
            & (window(nonzero) >= dim * 0.95)
        )
        starts = np.flatnonzero(hits)
        found += int(np.sum(np.diff(np.concatenate([[-dim], starts])) >= dim))
    return found


def jpegs_in(data: bytes) -> int:
    return sum(data.count(sig) for sig in JPEG_SIGNATURES)


def test_the_scanners_find_plaintext_vectors_and_jpegs() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    vector = rng.normal(size=DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    assert unit_vectors_in(noise) == 0 and jpegs_in(noise) == 0
    planted = (
        noise[:1001] + vector.tobytes() + noise[1001:50_000] + vector.tobytes() + noise[50_000:]
    )
    assert unit_vectors_in(planted) == 2
    import cv2

    _, jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert jpegs_in(noise[:500] + jpeg.tobytes() + noise[500:]) >= 1


def cli_env(settings: Settings) -> dict[str, str]:
    return settings_environment(settings)


class Vigil:
    def __init__(self, settings: Settings) -> None:
        build_context(settings, create=True).close()  # the CLI opens existing deployments only
        self.env = cli_env(settings)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> str:
        result = self.runner.invoke(app, list(args), env=self.env)
        assert result.exit_code == 0, result.output
        return result.output


def setup_watchlist(vigil: Vigil, photos: Path, *auth_args: str) -> None:
    vigil(
        "authorization",
        "add",
        "ORD-2026-17",
        "--purpose",
        "missing_person",
        "--legal-basis",
        "Code of Criminal Procedure s. 81",
        "--authority",
        "District Court",
        *auth_args,
    )
    vigil("watchlist", "add", "missing", "--authorization", "ORD-2026-17")
    vigil("enroll", "missing", LIN, str(photos / "lin-manuel-miranda.png"))
    vigil("enroll", "missing", ALEX, str(photos / "alex-lacamoire.png"))


def analyze(vigil: Vigil, clip: Path) -> list[dict[str, object]]:
    out = vigil("analyze", str(clip), "--camera", "cam1", "--json")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def scan_home(home: Path, alerts: int, templates: int) -> None:
    """Every table, every blob, every file: nothing beyond enrolled templates and alert crops."""
    db = sqlite3.connect(home / "vigil.db")
    tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
    counts = {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    assert {t for t, n in counts.items() if n} <= EXPECTED_TABLES, counts
    assert counts["templates"] == templates and counts["alerts"] == alerts
    blobs = []
    for table in tables:
        for row in db.execute(f'select * from "{table}"'):
            blobs += [v for v in row if isinstance(v, bytes)]
    assert all(b.startswith(MAGIC) for b in blobs), "a stored blob is not sealed"
    sightings = counts["alert_sightings"]
    assert sightings >= alerts  # every alert holds its matched tracks' sightings, at least one
    # template vector + photo, one crop per alert, one per sighting (a matched track), and one
    # pseudonym key per enrolled subject
    keys = counts["subject_keys"]
    assert keys == counts["subjects"]
    assert len(blobs) == 2 * templates + alerts + sightings + keys
    faces = db.execute(
        "select coalesce(sum(faces), 0), coalesce(sum(tracks), 0) from face_counts"
    ).fetchone()
    assert faces[0] > 0 and faces[1] > 0  # aggregate counts exist for the passers-by
    db.close()
    files = [p for p in home.rglob("*") if p.is_file()]
    allowed = {"vigil.db", "vigil.db-wal", "vigil.db-shm"}
    assert all(p.name in allowed or p.parent.name == "keys" for p in files), files
    for path in files:
        data = path.read_bytes()
        assert jpegs_in(data) == 0, f"a plaintext JPEG in {path}"
        assert unit_vectors_in(data) == 0, f"a plaintext embedding in {path}"


def test_analyze_alerts_once_for_the_enrolled_performer_and_stores_nothing_else(
    onnx_settings: Settings, photos: Path, hamilton_clip: Path
) -> None:
    vigil = Vigil(onnx_settings)
    setup_watchlist(vigil, photos, "--expires", "2099-01-01T00:00Z")
    alerts = analyze(vigil, hamilton_clip)
    assert [a["subject"] for a in alerts] == [
        LIN
    ]  # one passage, one alert; Alex is not in the clip
    (alert,) = alerts
    assert alert["camera"] == "cam1" and alert["watchlist"] == "missing"
    assert alert["authorization"] == "ORD-2026-17" and isinstance(alert["alert_id"], int)
    assert float(alert["score"]) >= onnx_settings.onnx.threshold
    assert str(alert["first_seen"]) < str(alert["last_seen"])
    scan_home(onnx_settings.home, alerts=1, templates=2)


@pytest.mark.parametrize(
    ("auth_args", "revoke", "templates"),
    [
        (
            ("--valid-from", "2020-01-01T00:00Z", "--expires", "2021-01-01T00:00Z"),
            False,
            2,
        ),  # expired
        (
            ("--valid-from", "2098-01-01T00:00Z", "--expires", "2099-01-01T00:00Z"),
            False,
            2,
        ),  # not yet
        (("--expires", "2099-01-01T00:00Z", "--cameras", "cam2"), False, 2),  # another camera
        (("--expires", "2099-01-01T00:00Z"), True, 0),  # revoked: templates purged
    ],
    ids=["expired", "not-yet-valid", "other-camera", "revoked"],
)
def test_no_alert_without_an_authorization_in_force(
    onnx_settings: Settings,
    photos: Path,
    hamilton_clip: Path,
    auth_args,
    revoke: bool,
    templates: int,
) -> None:
    vigil = Vigil(onnx_settings)
    setup_watchlist(vigil, photos, *auth_args)
    if revoke:
        vigil("authorization", "revoke", "ORD-2026-17")
    assert analyze(vigil, hamilton_clip) == []
    scan_home(onnx_settings.home, alerts=0, templates=templates)
    db = sqlite3.connect(onnx_settings.home / "vigil.db")
    (embedded,) = db.execute("select coalesce(sum(embedded_tracks), 0) from face_counts").fetchone()
    db.close()
    assert embedded == 0  # with no authority in force here, not a single face was embedded


def test_analyze_with_the_default_dlib_pack(
    settings: Settings, photos: Path, hamilton_clip: Path, record_property: pytest.RecordProperty
) -> None:
    assert settings.model_pack == "dlib"
    vigil = Vigil(settings)
    started = time.perf_counter()
    setup_watchlist(vigil, photos, "--expires", "2099-01-01T00:00Z")
    alerts = analyze(vigil, hamilton_clip)
    record_property("dlib_enroll_and_analyze_seconds", round(time.perf_counter() - started, 1))
    assert [a["subject"] for a in alerts] == [LIN]
    # two people enrolled: the watchlist-size ladder raised the threshold, and Lin still matches
    ladder = threshold_for_size(
        settings.dlib.threshold, settings.dlib.threshold_by_watchlist_size, 2
    )
    db = sqlite3.connect(settings.home / "vigil.db")
    (in_force,) = db.execute("select threshold from alerts").fetchone()
    db.close()
    assert in_force == pytest.approx(ladder) and in_force > settings.dlib.threshold
    assert float(alerts[0]["score"]) >= in_force
    scan_home(settings.home, alerts=1, templates=2)
