"""Transparency report: what the system did in a period, per camera, with no personal data.

Figures (in the spirit of UK police per-deployment live facial recognition disclosures): faces
processed and tracks (aggregate counts), candidate alerts, confirmed (true) and rejected (false)
alerts and alert precision per camera, false sightings (one face of an alert rejected as "not
this person"); uses (camera sessions) and running hours; watchlist sizes
by purpose; authorizations in force, expired, revoked and refused; data deleted by retention; the
threshold in force and its measured false-positive rate; maintenance access ("N sessions, M
hours": logins by maintenance accounts, and the hours their approved access windows, from
approval to expiry, overlap the period). Never names, references, watchlist
names, users or images. Rendering lives in :mod:`vigil.accountability.report_render`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigil.accountability.threshold import (
    MinFaceInForce,
    ThresholdInForce,
    current_min_face,
    current_threshold,
    enrolled_now,
)
from vigil.config import Settings
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose
from vigil.errors import InputError
from vigil.repositories.report import AuthorizationFigures, PurposeFigures, ReportRepo
from vigil.timeutil import utcnow

__all__ = [
    "AuthorizationFigures",
    "CameraFigures",
    "PurposeFigures",
    "Report",
    "ThresholdFigures",
    "TimePoint",
    "build_report",
]

BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_POINTS = 72


@dataclass
class CameraFigures:
    camera: str
    faces: int = 0
    tracks: int = 0
    embedded_tracks: int = 0
    alerts: int = 0  # candidate alerts raised
    confirmed: int = 0  # true alerts: confirmed by two people
    rejected: int = 0  # false alerts
    pending: int = 0  # not decided yet
    false_sightings: int = 0  # sightings a reviewer rejected ("not this person")
    sessions: int = 0
    hours: float = 0.0

    @property
    def precision(self) -> float | None:
        decided = self.confirmed + self.rejected
        return self.confirmed / decided if decided else None


ThresholdFigures = ThresholdInForce  # pack, threshold, source, measured_fpr, changed_at


@dataclass(frozen=True, slots=True)
class TimePoint:
    start: datetime
    faces: int
    alerts: int


@dataclass
class Report:
    start: datetime
    end: datetime
    generated_at: datetime
    cameras: list[CameraFigures]
    total: CameraFigures
    purposes: list[PurposeFigures]
    authorizations: AuthorizationFigures
    deleted: dict[str, int]
    retention_runs: int
    threshold: ThresholdFigures
    bucket_seconds: int
    timeline: list[TimePoint] = field(default_factory=list)
    audit_events: int = 0
    maintenance_sessions: int = 0  # logins by maintenance accounts in the period
    maintenance_hours: float = 0.0  # hours of approved maintenance access within the period
    min_face: MinFaceInForce | None = None  # smallest face searched, for the same N


def overlap_hours(start: datetime, stop: datetime | None, a: datetime, b: datetime) -> float:
    """Hours of ``[start, stop)`` (open-ended when ``stop`` is None) that fall within ``[a, b)``."""
    lo, hi = max(start, a), min(stop or b, b)
    return max(0.0, (hi - lo).total_seconds() / 3600.0)


def _cameras(repo: ReportRepo, a: datetime, b: datetime) -> dict[str, CameraFigures]:
    cams: dict[str, CameraFigures] = {}

    def cam(name: str) -> CameraFigures:
        return cams.setdefault(name, CameraFigures(name))

    for counts in repo.counts_by_camera(a, b):
        c = cam(counts.camera)
        c.faces, c.tracks, c.embedded_tracks = counts.faces, counts.tracks, counts.embedded_tracks
    for row in repo.alerts_by_camera_and_status(a, b):
        c = cam(row.camera)
        c.alerts += row.alerts
        if row.status is AlertStatus.confirmed:
            c.confirmed += row.alerts
        elif row.status is AlertStatus.rejected:
            c.rejected += row.alerts
        else:
            c.pending += row.alerts
    for name, n in repo.false_sightings_by_camera(a, b).items():
        cam(name).false_sightings += n
    for span in repo.sessions_overlapping(a, b):
        c = cam(span.camera)
        c.sessions += 1
        c.hours += overlap_hours(span.started_at, span.stopped_at, a, b)
    return dict(sorted(cams.items()))


def _total(cams: list[CameraFigures]) -> CameraFigures:
    total = CameraFigures("all cameras")
    for c in cams:
        for name in (
            "faces",
            "tracks",
            "embedded_tracks",
            "alerts",
            "confirmed",
            "rejected",
            "false_sightings",
        ):
            setattr(total, name, getattr(total, name) + getattr(c, name))
        total.pending += c.pending
        total.sessions += c.sessions
        total.hours += c.hours
    return total


def _deleted(repo: ReportRepo, a: datetime, b: datetime) -> tuple[dict[str, int], int]:
    totals: dict[str, int] = defaultdict(int)
    runs = repo.retention_deletions(a, b)
    for deleted in runs:
        for key, value in deleted.items():
            totals[key] += int(value)
    return dict(sorted(totals.items())), len(runs)


def bucket_for(a: datetime, b: datetime) -> int:
    span = (b - a).total_seconds()
    return next((size for size in BUCKETS if span / size <= MAX_POINTS), BUCKETS[-1])


def _timeline(repo: ReportRepo, a: datetime, b: datetime, bucket: int) -> list[TimePoint]:
    def index(t: datetime) -> int:
        return int((t - a).total_seconds() // bucket)

    n = max(1, -(-int((b - a).total_seconds()) // bucket))
    faces, alerts = [0] * n, [0] * n
    for row in repo.faces_by_minute(a, b):
        faces[min(n - 1, index(row.minute))] += row.faces
    for created in repo.alert_times(a, b):
        alerts[min(n - 1, index(created))] += 1
    return [TimePoint(a + timedelta(seconds=i * bucket), faces[i], alerts[i]) for i in range(n)]


def build_report(db: Database, settings: Settings, start: datetime, end: datetime) -> Report:
    """Collect the report's figures for [start, end)."""
    if end <= start:
        raise InputError("the report period is empty: --to must be after --from")
    with db.read() as s:
        repo = ReportRepo(s)
        cams = list(_cameras(repo, start, end).values())
        deleted, runs = _deleted(repo, start, end)
        bucket = bucket_for(start, end)
        pack = settings.model_pack
        enrolled = enrolled_now(s, pack)
        return Report(
            start=start,
            end=end,
            generated_at=utcnow(),
            cameras=cams,
            total=_total(cams),
            purposes=[repo.purpose_in_force(p, end) for p in Purpose],
            authorizations=repo.authorization_figures(start, end),
            deleted=deleted,
            retention_runs=runs,
            threshold=current_threshold(s, settings, pack, enrolled),
            min_face=current_min_face(s, settings, pack, enrolled),
            bucket_seconds=bucket,
            timeline=_timeline(repo, start, end, bucket),
            audit_events=repo.audit_events(start, end),
            maintenance_sessions=repo.maintenance_logins(start, end),
            maintenance_hours=sum(
                overlap_hours(lo, hi, start, end) for lo, hi in repo.maintenance_windows(start, end)
            ),
        )
