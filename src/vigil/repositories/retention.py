"""Deletions that enforce retention periods, and the record of each retention run."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vigil.db.models import Alert, AlertSighting, CameraSession, FaceCount, RetentionRun
from vigil.domain.enums import AlertStatus
from vigil.repositories._rows import rowcount

_BULK = {"synchronize_session": False}


class RetentionRepo:
    """Bulk deletions by age; each returns the rows (or crops) it removed."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def delete_alerts(self, statuses: Collection[AlertStatus], decided_before: datetime) -> int:
        """Alerts in ``statuses`` decided (undecided: created) before the cut; reviews go too."""
        decided = func.coalesce(Alert.decided_at, Alert.created_at)
        stmt = delete(Alert).where(Alert.status.in_(statuses), decided < decided_before)
        return rowcount(self.s.execute(stmt, execution_options=_BULK))

    def drop_crops(self, created_before: datetime) -> int:
        """Remove the face crops of alerts created before the cut, their sightings' too (the
        rows stay); counts every crop removed."""
        old = select(Alert.id).where(Alert.created_at < created_before)
        sightings = (
            update(AlertSighting)
            .where(AlertSighting.crop.is_not(None), AlertSighting.alert_id.in_(old))
            .values(crop=None, crop_encrypted=False)
        )
        stmt = (
            update(Alert)
            .where(Alert.crop.is_not(None), Alert.created_at < created_before)
            .values(crop=None, crop_encrypted=False)
        )
        dropped = rowcount(self.s.execute(sightings, execution_options=_BULK))
        return dropped + rowcount(self.s.execute(stmt, execution_options=_BULK))

    def delete_counts(self, minute_before: datetime) -> int:
        return rowcount(self.s.execute(delete(FaceCount).where(FaceCount.minute < minute_before)))

    def delete_ended_sessions(self, stopped_before: datetime) -> int:
        stmt = delete(CameraSession).where(
            CameraSession.stopped_at.is_not(None), CameraSession.stopped_at < stopped_before
        )
        return rowcount(self.s.execute(stmt))

    def add_run(self, ran_at: datetime, deleted: Mapping[str, int]) -> RetentionRun:
        run = RetentionRun(ran_at=ran_at, deleted=dict(deleted))
        self.s.add(run)
        self.s.flush()
        return run
