"""Deletions that enforce retention periods, and the record of each retention run."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vigil.db.models import Alert, AlertSighting, CameraSession, FaceCount, RetentionRun
from vigil.domain.enums import AlertStatus
from vigil.repositories._rows import rowcount

_BULK = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class DroppedCrops:
    """What :meth:`RetentionRepo.drop_crops` removed: crops (alerts' and sightings'), and the
    alerts that lost one (their rows stay)."""

    count: int
    alert_ids: tuple[int, ...]  # ascending, each once


class RetentionRepo:
    """Bulk deletions by age; each returns the rows (or crops) it removed."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def delete_alerts(
        self, statuses: Collection[AlertStatus], decided_before: datetime
    ) -> list[int]:
        """Alerts in ``statuses`` decided (undecided: created) before the cut; reviews go too.
        Returns the deleted alerts' ids (one statement, RETURNING)."""
        decided = func.coalesce(Alert.decided_at, Alert.created_at)
        stmt = (
            delete(Alert)
            .where(Alert.status.in_(statuses), decided < decided_before)
            .returning(Alert.id)
        )
        return sorted(self.s.scalars(stmt, execution_options=_BULK))

    def drop_crops(self, created_before: datetime) -> DroppedCrops:
        """Remove the face crops of alerts created before the cut, their sightings' too (the
        rows stay); counts every crop removed and names the alerts that lost one."""
        old = select(Alert.id).where(Alert.created_at < created_before)
        sightings = (
            update(AlertSighting)
            .where(AlertSighting.crop.is_not(None), AlertSighting.alert_id.in_(old))
            .values(crop=None, crop_encrypted=False)
            .returning(AlertSighting.alert_id)
        )
        stmt = (
            update(Alert)
            .where(Alert.crop.is_not(None), Alert.created_at < created_before)
            .values(crop=None, crop_encrypted=False)
            .returning(Alert.id)
        )
        of_sightings = list(self.s.scalars(sightings, execution_options=_BULK))
        of_alerts = list(self.s.scalars(stmt, execution_options=_BULK))
        return DroppedCrops(
            len(of_sightings) + len(of_alerts), tuple(sorted({*of_sightings, *of_alerts}))
        )

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
