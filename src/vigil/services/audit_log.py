"""Read-only search of the audit log for auditors (the chain lives in accountability.audit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from vigil.db.models import AuditEvent
from vigil.db.session import Database
from vigil.errors import InputError


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None  # exact, or a dotted prefix ("user" matches user.login ...)
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # paging: events older than this id
    limit: int = 100


def search_audit(db: Database, f: AuditFilter) -> Sequence[AuditEvent]:
    """Newest first."""
    if f.since and f.until and f.until <= f.since:
        raise InputError("'until' must be after 'since'", hint="swap or widen the time range")
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(f.limit)
    if f.action:
        q = q.where((AuditEvent.action == f.action) | AuditEvent.action.like(f"{f.action}.%"))
    if f.actor:
        q = q.where(AuditEvent.actor == f.actor)
    if f.since:
        q = q.where(AuditEvent.ts >= f.since)
    if f.until:
        q = q.where(AuditEvent.ts < f.until)
    if f.before_id:
        q = q.where(AuditEvent.id < f.before_id)
    with db.read() as s:
        return s.scalars(q).all()
