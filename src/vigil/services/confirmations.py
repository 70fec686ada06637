"""What a two-person confirmation covers: the alert's sightings that are not rejected.

A confirmation records the ids of the sightings it confirmed (``Review.sightings``). The two
confirmers must confirm the same faces, so whenever that set changes before the second
confirmation (a reviewer rejects a sighting, or another track joins the alert) the pending
confirmations are *reset*: they stay stored, marked superseded, no longer count, and the alert
goes back to ``candidate``. Every reset is audited (``alert.confirmations_reset``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.db.models import Alert, AlertSighting, Review
from vigil.domain.enums import AlertStatus
from vigil.timeutil import utcnow

RESET_ACTION = "alert.confirmations_reset"


def live_confirmations(alert: Alert) -> list[Review]:
    """The alert's confirmations that still count (not superseded), oldest first."""
    return sorted(
        (r for r in alert.reviews if r.decision == "confirm" and r.superseded_at is None),
        key=lambda r: r.id or 0,
    )


def confirmed_set(sightings: Iterable[AlertSighting]) -> list[int]:
    """Ids of the sightings a confirmation given now would cover: those not rejected."""
    return sorted(row.id for row in sightings if row.rejected_at is None)


def reset_confirmations(
    s: Session, alert: Alert, *, actor: str, why: str, sighting: int | None
) -> list[str]:
    """Supersede the alert's pending confirmations (audited); returns who had confirmed."""
    live = live_confirmations(alert)
    if not live:
        return []
    now = utcnow()
    for review in live:
        review.superseded_at = now
    if alert.status is AlertStatus.pending_second:
        alert.status = AlertStatus.candidate
    confirmers = [r.username for r in live]
    audit.record(
        s,
        actor=actor,
        action=RESET_ACTION,
        target=f"alert:{alert.id}",
        details={"why": why, "sighting": sighting, "confirmations_reset": confirmers},
    )
    return confirmers
