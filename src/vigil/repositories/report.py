"""Aggregate queries behind the transparency report: counts only, never names or images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Alert,
    AlertSighting,
    AuditEvent,
    Authorization,
    CameraSession,
    FaceCount,
    RetentionRun,
    Subject,
    User,
    Watchlist,
)
from vigil.domain.enums import AlertStatus, AuthorizationStatus, Purpose, Role
from vigil.repositories.cameras import CameraRepo


@dataclass(frozen=True, slots=True)
class CameraCounts:
    camera: str
    faces: int
    tracks: int
    embedded_tracks: int


@dataclass(frozen=True, slots=True)
class AlertCount:
    camera: str
    status: AlertStatus
    alerts: int


@dataclass(frozen=True, slots=True)
class SessionSpan:
    camera: str
    started_at: datetime
    stopped_at: datetime | None


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
class MinuteFaces:
    minute: datetime
    faces: int


class ReportRepo:
    """The report's figures for a period ``[a, b)``; one query per method."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def counts_by_camera(self, a: datetime, b: datetime) -> list[CameraCounts]:
        rows = self.s.execute(
            select(FaceCount.camera, func.sum(FaceCount.faces), func.sum(FaceCount.tracks),
                   func.sum(FaceCount.embedded_tracks))
            .where(FaceCount.minute >= a, FaceCount.minute < b).group_by(FaceCount.camera)
        )  # fmt: skip
        return [
            CameraCounts(name, int(faces or 0), int(tracks or 0), int(embedded or 0))
            for name, faces, tracks, embedded in rows
        ]

    def alerts_by_camera_and_status(self, a: datetime, b: datetime) -> list[AlertCount]:
        rows = self.s.execute(
            select(Alert.camera, Alert.status, func.count(Alert.id))
            .where(Alert.created_at >= a, Alert.created_at < b).group_by(Alert.camera, Alert.status)
        )  # fmt: skip
        return [AlertCount(name, status, int(n)) for name, status, n in rows]

    def false_sightings_by_camera(self, a: datetime, b: datetime) -> dict[str, int]:
        """Sightings reviewers rejected ("not this person"), per camera, of alerts raised in
        ``[a, b)``."""
        rows = self.s.execute(
            select(Alert.camera, func.count(AlertSighting.id))
            .join(AlertSighting, AlertSighting.alert_id == Alert.id)
            .where(
                Alert.created_at >= a, Alert.created_at < b, AlertSighting.rejected_at.is_not(None)
            )
            .group_by(Alert.camera)
        )
        return {name: int(n) for name, n in rows}

    def sessions_overlapping(self, a: datetime, b: datetime) -> list[SessionSpan]:
        rows = self.s.execute(
            select(CameraSession.camera, CameraSession.started_at, CameraSession.stopped_at).where(
                CameraSession.started_at < b,
                (CameraSession.stopped_at.is_(None)) | (CameraSession.stopped_at >= a),
            )
        )
        return [SessionSpan(name, started, stopped) for name, started, stopped in rows]

    def purpose_in_force(self, purpose: Purpose, at: datetime) -> PurposeFigures:
        in_force = (
            Authorization.purpose == purpose,
            Authorization.status == AuthorizationStatus.active,
            Authorization.valid_from <= at,
            Authorization.expires_at > at,
        )
        auths = self.s.scalar(select(func.count(Authorization.id)).where(*in_force)) or 0
        wls = (
            self.s.scalar(select(func.count(Watchlist.id)).join(Authorization).where(*in_force))
            or 0
        )
        subjects = (
            self.s.scalar(
                select(func.count(Subject.id)).join(Watchlist).join(Authorization).where(*in_force)
            )
            or 0
        )
        return PurposeFigures(purpose.value, int(auths), int(wls), int(subjects))

    def authorization_figures(self, a: datetime, b: datetime) -> AuthorizationFigures:
        def count(*where: ColumnElement[bool]) -> int:
            return int(self.s.scalar(select(func.count(Authorization.id)).where(*where)) or 0)

        active = Authorization.status == AuthorizationStatus.active
        changed = (Authorization.status_changed_at >= a, Authorization.status_changed_at < b)
        return AuthorizationFigures(
            in_force_at_end=count(
                active, Authorization.valid_from <= b, Authorization.expires_at > b
            ),
            created=count(Authorization.created_at >= a, Authorization.created_at < b),
            expired=count(active, Authorization.expires_at >= a, Authorization.expires_at < b),
            revoked=count(Authorization.status == AuthorizationStatus.revoked, *changed),
            refused=count(Authorization.status == AuthorizationStatus.refused, *changed),
        )

    def retention_deletions(self, a: datetime, b: datetime) -> list[Mapping[str, int]]:
        """What each retention run in the period deleted, by kind."""
        runs = self.s.scalars(
            select(RetentionRun).where(RetentionRun.ran_at >= a, RetentionRun.ran_at < b)
        )
        return [dict(run.deleted or {}) for run in runs]

    def faces_by_minute(self, a: datetime, b: datetime) -> list[MinuteFaces]:
        rows = self.s.execute(
            select(FaceCount.minute, func.sum(FaceCount.faces))
            .where(FaceCount.minute >= a, FaceCount.minute < b)
            .group_by(FaceCount.minute)
        )
        return [MinuteFaces(minute, int(count or 0)) for minute, count in rows]

    def alert_times(self, a: datetime, b: datetime) -> list[datetime]:
        return list(
            self.s.scalars(
                select(Alert.created_at).where(Alert.created_at >= a, Alert.created_at < b)
            )
        )

    def maintenance_logins(self, a: datetime, b: datetime) -> int:
        """Logins (sessions opened) by maintenance accounts in [a, b), from the audit."""
        query = (
            select(func.count(AuditEvent.id))
            .join(User, User.username == AuditEvent.actor)
            .where(
                AuditEvent.action == "user.login",
                User.role == Role.maintainer,
                AuditEvent.ts >= a,
                AuditEvent.ts < b,
            )
        )
        return int(self.s.scalar(query) or 0)

    def maintenance_windows(self, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
        """(approved_at, expires_at) of every approved maintenance account open during [a, b)."""
        query = select(User.approved_at, User.expires_at).where(
            User.role == Role.maintainer,
            User.approved_at.is_not(None),
            User.expires_at.is_not(None),
            User.approved_at < b,
            User.expires_at > a,
        )
        return [(start, end) for start, end in self.s.execute(query).all() if start and end]

    def audit_events(self, a: datetime, b: datetime) -> int:
        return int(
            self.s.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.ts >= a, AuditEvent.ts < b)
            )
            or 0
        )


@dataclass(frozen=True, slots=True)
class AuthorityCount:
    purpose: str
    authority: str
    authorizations: int


class PublicReportRepo(ReportRepo):
    """Extra aggregates of the public transparency page (counts only)."""

    def camera_groups(self) -> dict[str, str]:
        """Each camera's group, by camera name (the cameras table as it is now)."""
        return CameraRepo(self.s).groups()

    def authorizations_by_authority(self, a: datetime, b: datetime) -> list[AuthorityCount]:
        """Authorizations in force at some time in ``[a, b)``, by purpose and issuing authority."""
        rows = self.s.execute(
            select(Authorization.purpose, Authorization.authority, func.count(Authorization.id))
            .where(Authorization.valid_from < b, Authorization.expires_at > a,
                   Authorization.status != AuthorizationStatus.refused)
            .group_by(Authorization.purpose, Authorization.authority)
        )  # fmt: skip
        return [
            AuthorityCount(Purpose(purpose).value, str(authority), int(n))
            for purpose, authority, n in rows
        ]
