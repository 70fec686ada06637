"""Read-only search of the audit log for auditors (the chain lives in accountability.audit)."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.db.models import AuditEvent
from vigil.db.session import Database
from vigil.errors import InputError
from vigil.repositories.audit import AuditQuery, AuditRepo

AuditFilter = AuditQuery  # action (exact or dotted prefix), actor, since, until, before_id, limit

__all__ = ["AuditFilter", "search_audit"]


def search_audit(db: Database, f: AuditFilter) -> Sequence[AuditEvent]:
    """Newest first."""
    if f.since and f.until and f.until <= f.since:
        raise InputError("'until' must be after 'since'", hint="swap or widen the time range")
    with db.read() as s:
        return AuditRepo(s).search(f)
