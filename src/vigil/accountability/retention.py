"""Retention: each data class is kept no longer than its configured period, then deleted.

A run deletes rows (not flags): old candidate, rejected and confirmed alerts (their reviews go
with them), alert crops past ``crop_days`` (the alert row stays, the image goes), aggregate
counts, ended camera sessions and a whole prefix of the audit log past ``audit_days`` (leaving a
signed anchor so the chain still verifies). It records what it deleted, as counts and never as
content, in ``retention_runs`` and in the audit log (``retention.purge``).

SQLite runs with ``secure_delete`` on, so deleted cells are zeroed; :func:`scrub` also truncates
the write-ahead log so no older page copy of deleted rows stays on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.signing import Signer
from vigil.config import RetentionConfig
from vigil.db.models import Alert, CameraSession, FaceCount, RetentionRun
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.timeutil import utcnow

ACTOR = "system:retention"
OPEN_STATUSES = (AlertStatus.candidate, AlertStatus.pending_second)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    ran_at: datetime
    deleted: dict[str, int]  # data class -> rows (or crops) deleted
    run_id: int

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _rows(result: object) -> int:
    """Rows touched by a DML statement (CursorResult.rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _days(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _delete_alerts(s: Session, statuses: tuple[AlertStatus, ...], before: datetime) -> int:
    decided = func.coalesce(Alert.decided_at, Alert.created_at)
    stmt = delete(Alert).where(Alert.status.in_(statuses), decided < before)
    return _rows(s.execute(stmt, execution_options={"synchronize_session": False}))


def _purge(s: Session, cfg: RetentionConfig, signer: Signer, now: datetime) -> dict[str, int]:
    deleted = {
        "candidate_alerts": _delete_alerts(s, OPEN_STATUSES, _days(now, cfg.candidate_alert_days)),
        "rejected_alerts": _delete_alerts(
            s, (AlertStatus.rejected,), _days(now, cfg.rejected_alert_days)
        ),
        "confirmed_alerts": _delete_alerts(
            s, (AlertStatus.confirmed,), _days(now, cfg.confirmed_alert_days)
        ),
    }
    crops = (
        update(Alert)
        .where(Alert.crop.is_not(None), Alert.created_at < _days(now, cfg.crop_days))
        .values(crop=None, crop_encrypted=False)
    )
    deleted["crops"] = _rows(s.execute(crops, execution_options={"synchronize_session": False}))
    counts = delete(FaceCount).where(FaceCount.minute < _days(now, cfg.count_days))
    deleted["face_counts"] = _rows(s.execute(counts))
    sessions = delete(CameraSession).where(
        CameraSession.stopped_at.is_not(None), CameraSession.stopped_at < _days(now, cfg.audit_days)
    )
    deleted["camera_sessions"] = _rows(s.execute(sessions))
    deleted["audit_events"] = audit.prune_before(s, signer, _days(now, cfg.audit_days))
    return deleted


class RetentionService:
    """Enforces the retention periods; one verb: :meth:`run`."""

    def __init__(self, db: Database, config: RetentionConfig, signer: Signer) -> None:
        self.db = db
        self.config = config
        self.signer = signer

    def run(self, *, now: datetime | None = None, actor: str = ACTOR) -> RetentionResult:
        now = now or utcnow()
        with self.db.write() as s:
            deleted = _purge(s, self.config, self.signer, now)
            run = RetentionRun(ran_at=now, deleted=deleted)
            s.add(run)
            s.flush()
            periods = self.config.model_dump(exclude={"run_every_minutes"})
            audit.record(
                s,
                actor=actor,
                action="retention.purge",
                target=f"retention_run:{run.id}",
                details={"deleted": deleted, "periods_days": periods},
            )
            run_id = run.id
        if any(deleted.values()):
            scrub(self.db)
        return RetentionResult(now, deleted, run_id)


def scrub(db: Database) -> None:
    """Move the write-ahead log into the database file and truncate it (SQLite only).

    Deleted cells are already zeroed by ``secure_delete``; this removes the WAL's older copies.
    """
    db.checkpoint()  # outside a transaction: writes begin with BEGIN IMMEDIATE (vigil.db.session)
