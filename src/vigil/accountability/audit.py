"""Append-only, hash-chained audit log.

Each record stores the SHA-256 of the previous record and its own hash over a canonical JSON
encoding of (id, ts, actor, action, target, details, prev_hash). Records are written in the same
transaction as the action they describe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import AuditEvent
from vigil.timeutil import utcnow

GENESIS = "0" * 64


def canonical(event_id: int, ts: datetime, actor: str, action: str, target: str,
              details: Mapping[str, Any], prev_hash: str) -> bytes:
    body = {
        "id": event_id,
        "ts": ts.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def record_hash(event: AuditEvent) -> str:
    data = canonical(event.id, event.ts, event.actor, event.action, event.target, event.details or {},
                     event.prev_hash)
    return hashlib.sha256(data).hexdigest()


def record(session: Session, *, actor: str, action: str, target: str = "",
           details: Mapping[str, Any] | None = None) -> AuditEvent:
    """Append one audit event inside the caller's (write) transaction."""
    last = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    prev_hash = last.hash if last else GENESIS
    next_id = (last.id + 1) if last else 1
    clean = json.loads(json.dumps(dict(details or {}), default=str))
    event = AuditEvent(id=next_id, ts=utcnow(), actor=actor, action=action, target=target,
                       details=clean, prev_hash=prev_hash)
    event.hash = record_hash(event)
    session.add(event)
    session.flush()
    return event
