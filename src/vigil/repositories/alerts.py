"""Candidate and reviewed alerts.

:meth:`AlertRepo.records` loads alerts with the names reviewers need (subject, watchlist,
authorization reference and purpose) in ONE joined query, their reviews in one more
(``selectinload``), their sightings in one more (:class:`SightingRecord`, no crop bytes), and
whether a crop exists without reading the crop bytes: no N+1.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.orm import Session, selectinload

from vigil.db.models import (
    Alert,
    AlertSighting,
    Authorization,
    Review,
    Subject,
    Template,
    Watchlist,
)
from vigil.domain.enums import AlertStatus, Purpose
from vigil.errors import NotFound
from vigil.repositories._rows import rowcount


@dataclass(frozen=True, slots=True)
class SightingRecord:
    """One sighting of an alert as reviewers list it: no crop bytes, only whether there is one."""

    id: int
    ordinal: int
    score: float
    seen_at: datetime
    first_seen: datetime
    last_seen: datetime
    conflicting: bool
    has_crop: bool
    rejected_at: datetime | None = None  # marked "not this person" by a reviewer
    rejected_by: str | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert row with the names resolved (what the public shape is built from)."""

    alert: Alert
    subject_name: str
    watchlist: str
    authorization_reference: str
    purpose: Purpose
    has_crop: bool
    sightings: tuple[SightingRecord, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AlertFilter:
    camera: str | None = None
    status: AlertStatus | None = None
    limit: int = 100
    before_id: int | None = None


def _record(row: Row[Alert, str, str, str, Purpose, bool]) -> AlertRecord:
    alert, subject, watchlist, reference, purpose, has_crop = row
    return AlertRecord(alert, subject, watchlist, reference, purpose, bool(has_crop))


def _records_query() -> Select[Alert, str, str, str, Purpose, bool]:
    return (
        select(
            Alert,
            Subject.name,
            Watchlist.name,
            Authorization.reference,
            Authorization.purpose,
            Alert.crop.is_not(None),
        )
        .join(Subject, Subject.id == Alert.subject_id)
        .join(Watchlist, Watchlist.id == Alert.watchlist_id)
        .join(Authorization, Authorization.id == Alert.authorization_id)
        .options(selectinload(Alert.reviews))
    )


class AlertRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, alert: Alert) -> Alert:
        self.s.add(alert)
        self.s.flush()
        return alert

    def get(self, alert_id: int) -> Alert:
        found = self.s.get(Alert, alert_id)
        if found is None:
            raise NotFound(f"no alert with id {alert_id}")
        return found

    def find(self, alert_id: int) -> Alert | None:
        """The alert, or None when it is gone (purged meanwhile)."""
        return self.s.get(Alert, alert_id)

    def list(
        self,
        *,
        camera: str | None = None,
        status: AlertStatus | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Alert]:
        q = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if camera:
            q = q.where(Alert.camera == camera)
        if status:
            q = q.where(Alert.status == status)
        if before_id:
            q = q.where(Alert.id < before_id)
        return self.s.scalars(q).all()

    def records(self, f: AlertFilter) -> builtins.list[AlertRecord]:
        """Alerts with their names, newest first (two queries whatever the page size)."""
        q = _records_query().order_by(Alert.id.desc()).limit(f.limit)
        if f.camera:
            q = q.where(Alert.camera == f.camera)
        if f.status:
            q = q.where(Alert.status == f.status)
        if f.before_id:
            q = q.where(Alert.id < f.before_id)
        return self._with_sightings([_record(row) for row in self.s.execute(q).all()])

    def record(self, alert_id: int) -> AlertRecord:
        """One alert with its names; NotFound if there is none."""
        q = _records_query().where(Alert.id == alert_id).execution_options(populate_existing=True)
        row = self.s.execute(q).one_or_none()
        if row is None:
            raise NotFound(f"no alert with id {alert_id}", hint="see GET /api/alerts")
        return self._with_sightings([_record(row)])[0]

    def _with_sightings(self, records: builtins.list[AlertRecord]) -> builtins.list[AlertRecord]:
        """The records with their sightings, read in ONE query without the crop bytes."""
        if not records:
            return records
        q = (
            select(
                AlertSighting.alert_id,
                AlertSighting.id,
                AlertSighting.ordinal,
                AlertSighting.score,
                AlertSighting.seen_at,
                AlertSighting.first_seen,
                AlertSighting.last_seen,
                AlertSighting.conflicting,
                AlertSighting.crop.is_not(None),
                AlertSighting.rejected_at,
                AlertSighting.rejected_by,
                AlertSighting.rejection_reason,
            )
            .where(AlertSighting.alert_id.in_([r.alert.id for r in records]))
            .order_by(AlertSighting.alert_id, AlertSighting.ordinal)
        )
        found: dict[int, builtins.list[SightingRecord]] = {}
        for row in self.s.execute(q).all():
            alert_id, sid, ordinal, score, seen_at, first, last, conflicting, has_crop = row[:9]
            found.setdefault(alert_id, []).append(
                SightingRecord(
                    sid,
                    ordinal,
                    score,
                    seen_at,
                    first,
                    last,
                    bool(conflicting),
                    bool(has_crop),
                    *row[9:],
                )
            )
        return [replace(r, sightings=tuple(found.get(r.alert.id, ()))) for r in records]

    def sighting(self, alert_id: int, ordinal: int) -> AlertSighting | None:
        """The alert's ``ordinal``-th sighting, or None if it has none (yet)."""
        q = select(AlertSighting).where(
            AlertSighting.alert_id == alert_id, AlertSighting.ordinal == ordinal
        )
        return self.s.scalars(q).one_or_none()

    def get_sighting(self, alert_id: int, sighting_id: int) -> AlertSighting:
        """One sighting of one alert; NotFound if the alert has no sighting with that id."""
        found = self.s.get(AlertSighting, sighting_id)
        if found is None or found.alert_id != alert_id:
            raise NotFound(
                f"alert {alert_id} has no sighting {sighting_id}",
                hint=f"see GET /api/alerts/{alert_id} for its sightings",
            )
        return found

    def sightings(self, alert_id: int) -> builtins.list[AlertSighting]:
        """Every sighting of the alert (with their crops), by ordinal."""
        q = (
            select(AlertSighting)
            .where(AlertSighting.alert_id == alert_id)
            .order_by(AlertSighting.ordinal)
        )
        return list(self.s.scalars(q))

    def add_sighting(self, sighting: AlertSighting) -> AlertSighting:
        self.s.add(sighting)
        self.s.flush()
        return sighting

    def count_awaiting(self, username: str) -> int:
        """Alerts that ``username`` may still review: candidates, and pending_second ones this
        user has not confirmed."""
        confirmed_by_user = (
            select(Review.id)
            .where(
                Review.alert_id == Alert.id,
                Review.username == username,
                Review.decision == "confirm",
                Review.superseded_at.is_(None),
            )
            .exists()
        )
        q = select(func.count(Alert.id)).where(
            (Alert.status == AlertStatus.candidate)
            | ((Alert.status == AlertStatus.pending_second) & ~confirmed_by_user)
        )
        return int(self.s.scalar(q) or 0)

    def matched_template(self, alert: Alert) -> Template | None:
        """The template that matched, or the subject's first one if it was replaced."""
        tpl = self.s.get(Template, alert.template_id) if alert.template_id else None
        if tpl is None:
            tpl = self.s.scalars(
                select(Template)
                .where(Template.subject_id == alert.subject_id)
                .order_by(Template.id)
            ).first()
        return tpl

    def ids_for_subject(self, subject_id: int) -> builtins.list[int]:
        stmt = select(Alert.id).where(Alert.subject_id == subject_id).order_by(Alert.id)
        return list(self.s.scalars(stmt))

    def ids_for_authorization(self, auth_id: int) -> builtins.list[int]:
        stmt = select(Alert.id).where(Alert.authorization_id == auth_id).order_by(Alert.id)
        return list(self.s.scalars(stmt))

    def delete_for_authorization(self, auth_id: int) -> int:
        return rowcount(self.s.execute(delete(Alert).where(Alert.authorization_id == auth_id)))
