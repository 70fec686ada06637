"""Retention: each data class is kept no longer than its configured period, then deleted.

A run deletes rows (not flags): old candidate, rejected and confirmed alerts (their reviews go
with them), alert crops past ``crop_days`` (the alert row stays, the image goes), aggregate
counts, ended camera sessions and a whole prefix of the audit log past ``audit_days`` (leaving a
signed anchor so the chain still verifies). It records what it deleted, as counts and never as
content, in ``retention_runs`` and in the audit log (``retention.purge``).

A round announces what it did to alerts when it is given :class:`RetentionEvents` (``vigil
serve`` and ``vigil retention run`` do): one ``purged`` event per deleted alert and one
``updated`` event per alert that lost its crop, staged in the round's own transaction (written
to the relay log with it, for the other processes) and delivered locally after its commit.

SQLite runs with ``secure_delete`` on, so deleted cells are zeroed; :func:`scrub` also truncates
the write-ahead log so no older page copy of deleted rows stays on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

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


class RetentionEvents(Protocol):
    """Announces the alerts a round deleted or changed
    (:class:`vigil.services.alert_announce.AlertAnnouncer`)."""

    def stage(
        self, s: Session, purged: Sequence[int], updated: Sequence[int]
    ) -> Callable[[], None]:
        """Inside the round's write transaction ``s``: stage one event per alert (they commit
        with it); returns what delivers them locally once it has committed."""


@dataclass(slots=True)
class _Purged:
    """One round's deletions: counts per data class, and the alerts it deleted or changed."""

    deleted: dict[str, int] = field(default_factory=dict)
    alert_ids: list[int] = field(default_factory=list)  # deleted
    cropped_ids: tuple[int, ...] = ()  # kept, without their crops


def _purge_alerts(repo: RetentionRepo, cfg: RetentionConfig, now: datetime) -> _Purged:
    out = _Purged()
    for name, statuses, days in (
        ("candidate_alerts", OPEN_STATUSES, cfg.candidate_alert_days),
        ("rejected_alerts", (AlertStatus.rejected,), cfg.rejected_alert_days),
        ("confirmed_alerts", (AlertStatus.confirmed,), cfg.confirmed_alert_days),
    ):
        ids = repo.delete_alerts(statuses, _days(now, days))
        out.deleted[name] = len(ids)
        out.alert_ids.extend(ids)
    crops = repo.drop_crops(_days(now, cfg.crop_days))
    out.deleted["crops"] = crops.count
    out.cropped_ids = crops.alert_ids
    return out


def _purge(s: Session, cfg: RetentionConfig, signer: Signer, now: datetime) -> _Purged:
    repo = RetentionRepo(s)
    out = _purge_alerts(repo, cfg, now)
    out.deleted |= {
        "face_counts": repo.delete_counts(_days(now, cfg.count_days)),
        "camera_sessions": repo.delete_ended_sessions(_days(now, cfg.audit_days)),
        "audit_events": audit.prune_before(s, signer, _days(now, cfg.audit_days)),
    }
    return out


class RetentionService:
    """Enforces the retention periods; one verb: :meth:`run`."""

    def __init__(
        self,
        db: Database,
        config: RetentionConfig,
        signer: Signer,
        events: RetentionEvents | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.signer = signer
        self.events = events  # None: the round announces nothing

    def run(self, *, now: datetime | None = None, actor: str = ACTOR) -> RetentionResult:
        now = now or utcnow()
        deliver: Callable[[], None] | None = None
        with self.db.write() as s:
            purged = _purge(s, self.config, self.signer, now)
            deleted = purged.deleted
            if self.events is not None:
                deliver = self.events.stage(s, purged.alert_ids, purged.cropped_ids)
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
        if deliver is not None:
            deliver()
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
