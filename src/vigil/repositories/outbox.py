"""The outbox of confirmed-alert deliveries: enqueue, claim with a lease, finish, reschedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.db.models import OutboxMessage
from vigil.repositories._rows import rowcount

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Pending, due, and not leased (or the lease has run out: its holder died or hung)."""
    return and_(
        OutboxMessage.status == PENDING,
        OutboxMessage.due_at <= now,
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


class OutboxRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add_all(self, rows: Sequence[OutboxMessage]) -> None:
        self.s.add_all(rows)
        self.s.flush()

    def any_due(self, now: datetime) -> bool:
        return self.s.scalar(select(OutboxMessage.id).where(_claimable(now)).limit(1)) is not None

    def claim(self, owner: str, now: datetime, lease_until: datetime, limit: int) -> int:
        """Lease up to ``limit`` due rows to ``owner`` (one UPDATE; rows leased by another
        process are skipped) and count the try. Returns how many rows were claimed."""
        due = (
            select(OutboxMessage.id)
            .where(_claimable(now))
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
            .scalar_subquery()
        )
        return rowcount(
            self.s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due), _claimable(now))
                .values(
                    claimed_by=owner,
                    lease_until=lease_until,
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
        )

    def claimed(self, owner: str) -> Sequence[OutboxMessage]:
        return self.s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.claimed_by == owner, OutboxMessage.status == PENDING)
            .order_by(OutboxMessage.id)
        ).all()

    def finish(self, row_id: int, owner: str, status: str, now: datetime, error: str | None) -> int:
        """Mark a claimed row delivered or failed; 0 if ``owner`` lost its lease meanwhile."""
        return rowcount(
            self.s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == owner)
                .values(
                    status=status,
                    finished_at=now,
                    last_error=error,
                    claimed_by=None,
                    lease_until=None,
                )
            )
        )

    def reschedule(self, row_id: int, owner: str, due_at: datetime, error: str) -> int:
        """Release a claimed row for another try at ``due_at``; 0 if the lease was lost."""
        return rowcount(
            self.s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == owner)
                .values(due_at=due_at, last_error=error, claimed_by=None, lease_until=None)
            )
        )

    def pending_count(self) -> int:
        return int(
            self.s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == PENDING)
            )
            or 0
        )

    def delete_finished_before(self, cutoff: datetime) -> int:
        return rowcount(
            self.s.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.status != PENDING, OutboxMessage.finished_at < cutoff
                )
            )
        )
