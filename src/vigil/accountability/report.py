"""Transparency report: what the system did in a period, per camera, with no personal data.

Figures (in the spirit of UK police per-deployment live facial recognition disclosures): faces
processed and tracks (aggregate counts), candidate alerts, confirmed (true) and rejected (false)
alerts and alert precision per camera; uses (camera sessions) and running hours; watchlist sizes
by purpose; authorizations in force, expired, revoked and refused; data deleted by retention; the
threshold in force and its measured false-positive rate. Never names, references, watchlist
names, users or images. Rendering lives in :mod:`vigil.accountability.report_render`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from vigil.config import Settings
from vigil.db.models import (
    Alert,
    AuditEvent,
    Authorization,
    CameraSession,
    FaceCount,
    RetentionRun,
    Setting,
    Subject,
    Watchlist,
)
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus, Purpose
from vigil.errors import InputError
from vigil.timeutil import utcnow

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
    sessions: int = 0
    hours: float = 0.0

    @property
    def precision(self) -> float | None:
        decided = self.confirmed + self.rejected
        return self.confirmed / decided if decided else None


@dataclass(frozen=True, slots=True)
class PurposeFigures:
    purpose: str
    authorizations_in_force: int
    watchlists: int
    subjects: int


@dataclass(frozen=True, slots=True)
class AuthorizationFigures:
    in_force_at_end: int
    created: int
    expired: int
    revoked: int
    refused: int


@dataclass(frozen=True, slots=True)
class ThresholdFigures:
    pack: str
    threshold: float
    source: str  # "calibrated" (settings table) or "config"
    measured_fpr: float | None
    changed_at: datetime | None


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


def _overlap_hours(start: datetime, stop: datetime | None, a: datetime, b: datetime) -> float:
    lo, hi = max(start, a), min(stop or b, b)
    return max(0.0, (hi - lo).total_seconds() / 3600.0)


def _cameras(s: Session, a: datetime, b: datetime) -> dict[str, CameraFigures]:
    cams: dict[str, CameraFigures] = {}

    def cam(name: str) -> CameraFigures:
        return cams.setdefault(name, CameraFigures(name))

    counts = s.execute(
        select(FaceCount.camera, func.sum(FaceCount.faces), func.sum(FaceCount.tracks),
               func.sum(FaceCount.embedded_tracks))
        .where(FaceCount.minute >= a, FaceCount.minute < b).group_by(FaceCount.camera)
    )  # fmt: skip
    for name, faces, tracks, embedded in counts:
        c = cam(name)
        c.faces, c.tracks, c.embedded_tracks = int(faces or 0), int(tracks or 0), int(embedded or 0)
    alerts = s.execute(
        select(Alert.camera, Alert.status, func.count(Alert.id))
        .where(Alert.created_at >= a, Alert.created_at < b).group_by(Alert.camera, Alert.status)
    )  # fmt: skip
    for name, status, n in alerts:
        c = cam(name)
        c.alerts += n
        if status is AlertStatus.confirmed:
            c.confirmed += n
        elif status is AlertStatus.rejected:
            c.rejected += n
        else:
            c.pending += n
    sessions = s.execute(
        select(CameraSession.camera, CameraSession.started_at, CameraSession.stopped_at).where(
            CameraSession.started_at < b,
            (CameraSession.stopped_at.is_(None)) | (CameraSession.stopped_at >= a),
        )
    )
    for name, started, stopped in sessions:
        c = cam(name)
        c.sessions += 1
        c.hours += _overlap_hours(started, stopped, a, b)
    return dict(sorted(cams.items()))


def _total(cams: list[CameraFigures]) -> CameraFigures:
    total = CameraFigures("all cameras")
    for c in cams:
        for name in ("faces", "tracks", "embedded_tracks", "alerts", "confirmed", "rejected"):
            setattr(total, name, getattr(total, name) + getattr(c, name))
        total.pending += c.pending
        total.sessions += c.sessions
        total.hours += c.hours
    return total


def _purposes(s: Session, at: datetime) -> list[PurposeFigures]:
    out = []
    for purpose in Purpose:
        in_force = (
            Authorization.purpose == purpose,
            Authorization.status == AuthorizationStatus.active,
            Authorization.valid_from <= at,
            Authorization.expires_at > at,
        )
        auths = s.scalar(select(func.count(Authorization.id)).where(*in_force)) or 0
        wls = s.scalar(select(func.count(Watchlist.id)).join(Authorization).where(*in_force)) or 0
        subjects = (
            s.scalar(
                select(func.count(Subject.id)).join(Watchlist).join(Authorization).where(*in_force)
            )
            or 0
        )
        out.append(PurposeFigures(purpose.value, auths, wls, subjects))
    return out


def _authorizations(s: Session, a: datetime, b: datetime) -> AuthorizationFigures:
    def count(*where: ColumnElement[bool]) -> int:
        return int(s.scalar(select(func.count(Authorization.id)).where(*where)) or 0)

    active = Authorization.status == AuthorizationStatus.active
    changed = (Authorization.status_changed_at >= a, Authorization.status_changed_at < b)
    return AuthorizationFigures(
        in_force_at_end=count(active, Authorization.valid_from <= b, Authorization.expires_at > b),
        created=count(Authorization.created_at >= a, Authorization.created_at < b),
        expired=count(active, Authorization.expires_at >= a, Authorization.expires_at < b),
        revoked=count(Authorization.status == AuthorizationStatus.revoked, *changed),
        refused=count(Authorization.status == AuthorizationStatus.refused, *changed),
    )


def _deleted(s: Session, a: datetime, b: datetime) -> tuple[dict[str, int], int]:
    totals: dict[str, int] = defaultdict(int)
    runs = s.scalars(select(RetentionRun).where(RetentionRun.ran_at >= a, RetentionRun.ran_at < b))
    n = 0
    for run in runs:
        n += 1
        for key, value in (run.deleted or {}).items():
            totals[key] += int(value)
    return dict(sorted(totals.items())), n


def threshold_figures(s: Session, settings: Settings, pack: str | None = None) -> ThresholdFigures:
    pack = pack or settings.model_pack
    row = s.get(Setting, f"threshold.{pack}")
    fpr = s.get(Setting, f"threshold.{pack}.fpr")
    configured = settings.dlib.threshold if pack == "dlib" else settings.onnx.threshold
    return ThresholdFigures(
        pack=pack,
        threshold=float(row.value) if row else configured,
        source="calibrated" if row else "config",
        measured_fpr=float(fpr.value) if fpr else None,
        changed_at=row.updated_at if row else None,
    )


def bucket_for(a: datetime, b: datetime) -> int:
    span = (b - a).total_seconds()
    return next((size for size in BUCKETS if span / size <= MAX_POINTS), BUCKETS[-1])


def _timeline(s: Session, a: datetime, b: datetime, bucket: int) -> list[TimePoint]:
    def index(t: datetime) -> int:
        return int((t - a).total_seconds() // bucket)

    n = max(1, -(-int((b - a).total_seconds()) // bucket))
    faces, alerts = [0] * n, [0] * n
    q = (
        select(FaceCount.minute, func.sum(FaceCount.faces))
        .where(FaceCount.minute >= a, FaceCount.minute < b)
        .group_by(FaceCount.minute)
    )
    for minute, count in s.execute(q):
        faces[min(n - 1, index(minute))] += int(count or 0)
    for (created,) in s.execute(
        select(Alert.created_at).where(Alert.created_at >= a, Alert.created_at < b)
    ):
        alerts[min(n - 1, index(created))] += 1
    return [TimePoint(a + timedelta(seconds=i * bucket), faces[i], alerts[i]) for i in range(n)]


def build_report(db: Database, settings: Settings, start: datetime, end: datetime) -> Report:
    """Collect the report's figures for [start, end)."""
    if end <= start:
        raise InputError("the report period is empty: --to must be after --from")
    with db.read() as s:
        cams = list(_cameras(s, start, end).values())
        deleted, runs = _deleted(s, start, end)
        bucket = bucket_for(start, end)
        audit_events = (
            s.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.ts >= start, AuditEvent.ts < end)
            )
            or 0
        )
        return Report(
            start=start,
            end=end,
            generated_at=utcnow(),
            cameras=cams,
            total=_total(cams),
            purposes=_purposes(s, end),
            authorizations=_authorizations(s, start, end),
            deleted=deleted,
            retention_runs=runs,
            threshold=threshold_figures(s, settings),
            bucket_seconds=bucket,
            timeline=_timeline(s, start, end, bucket),
            audit_events=audit_events,
        )
