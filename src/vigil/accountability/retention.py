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

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.signing import Signer
from vigil.config import RetentionConfig
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.repositories.retention import RetentionRepo
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


def _days(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _purge(s: Session, cfg: RetentionConfig, signer: Signer, now: datetime) -> dict[str, int]:
    repo = RetentionRepo(s)
    return {
        "candidate_alerts": repo.delete_alerts(OPEN_STATUSES, _days(now, cfg.candidate_alert_days)),
        "rejected_alerts": repo.delete_alerts(
            (AlertStatus.rejected,), _days(now, cfg.rejected_alert_days)
        ),
        "confirmed_alerts": repo.delete_alerts(
            (AlertStatus.confirmed,), _days(now, cfg.confirmed_alert_days)
        ),
        "crops": repo.drop_crops(_days(now, cfg.crop_days)),
        "face_counts": repo.delete_counts(_days(now, cfg.count_days)),
        "camera_sessions": repo.delete_ended_sessions(_days(now, cfg.audit_days)),
        "audit_events": audit.prune_before(s, signer, _days(now, cfg.audit_days)),
    }


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
            run = RetentionRepo(s).add_run(now, deleted)
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


# The tables whose rows carry biometric bytes (templates, enrolled photos, alert crops).
BIOMETRIC_TABLES = ("templates", "alerts")


def scrub(db: Database) -> None:
    """Remove the deleted rows' bytes from the database files after a purge.

    SQLite: deleted cells are already zeroed by ``secure_delete``; the checkpoint removes the
    WAL's older copies. PostgreSQL: ``VACUUM FULL`` rewrites the biometric tables without the
    dead tuples (docs/postgresql.md).
    """
    db.checkpoint()  # outside a transaction: writes begin with BEGIN IMMEDIATE (vigil.db.session)
    db.vacuum(*BIOMETRIC_TABLES)
