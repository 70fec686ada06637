"""Read-only search of the audit log for auditors (the chain lives in accountability.audit).

Records name watchlist subjects by pseudonymous reference (:mod:`vigil.accountability.pseudonyms`);
:func:`search_audit_resolved` gives each record the subjects its references stand for:
"watchlist/name" while the subject lives, "purged subject" once its key is gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vigil.accountability.crypto import DataCipher
from vigil.accountability.pseudonyms import SubjectRefs, refs_in
from vigil.db.models import AuditEvent
from vigil.db.session import Database
from vigil.errors import InputError
from vigil.repositories.audit import AuditQuery, AuditRepo

AuditFilter = AuditQuery  # action (exact or dotted prefix), actor, since, until, before_id, limit

__all__ = ["AuditEntry", "AuditFilter", "search_audit", "search_audit_resolved"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record and, per subject reference it carries, who that is (or "purged subject")."""

    event: AuditEvent
    subjects: Mapping[str, str] = field(default_factory=dict)


def search_audit(db: Database, f: AuditFilter) -> Sequence[AuditEvent]:
    """Newest first."""
    if f.since and f.until and f.until <= f.since:
        raise InputError("'until' must be after 'since'", hint="swap or widen the time range")
    with db.read() as s:
        return AuditRepo(s).search(f)


def search_audit_resolved(db: Database, cipher: DataCipher, f: AuditFilter) -> list[AuditEntry]:
    """:func:`search_audit` with each record's subject references resolved (for auditors)."""
    events = search_audit(db, f)
    per_event = [refs_in(e.target, e.details) for e in events]
    wanted = set().union(*per_event) if per_event else set()
    with db.read() as s:
        labels = SubjectRefs(cipher).resolve(s, wanted)
    return [
        AuditEntry(e, {r: labels[r] for r in sorted(refs)})
        for e, refs in zip(events, per_event, strict=True)
    ]
