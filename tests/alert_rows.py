"""One alert row with its authorization, watchlist and subject, written straight to the
database (for tests of what happens after an alert exists: reviews, the outbox)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from vigil.db.models import Alert, Authorization, Subject, Watchlist
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose
from vigil.timeutil import utcnow


def add_alert_row(db: Database, status: AlertStatus, *, score: float = 0.8) -> int:
    """A stored alert on camera gate-1 under a fresh, active authorization; returns its id."""
    now = utcnow()
    with db.write() as s:
        auth = Authorization(
            reference=f"ORDER-{secrets.token_hex(4)}",
            legal_basis="court order",
            authority="District Court",
            purpose=Purpose.missing_person,
            valid_from=now - timedelta(hours=1),
            expires_at=now + timedelta(days=1),
        )
        s.add(auth)
        s.flush()
        wl = Watchlist(name=f"list-{auth.reference}", authorization_id=auth.id)
        s.add(wl)
        s.flush()
        subject = Subject(watchlist_id=wl.id, name="Jane Roe")
        s.add(subject)
        s.flush()
        alert = Alert(
            camera="gate-1",
            subject_id=subject.id,
            watchlist_id=wl.id,
            authorization_id=auth.id,
            score=score,
            threshold=0.5,
            pack="dlib",
            first_seen=now,
            last_seen=now,
            status=status,
        )
        s.add(alert)
        s.flush()
        return alert.id
