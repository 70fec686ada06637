"""Idempotency keys of candidates and sighting updates delivered by remote cameras (see
CandidateDelivery)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.db.models import CandidateDelivery


class DeliveryRepo:
    """Which delivery keys were stored, and as which alert."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def alert_for(self, key: str) -> int | None:
        """The alert stored for ``key``, or None if this key was never stored."""
        row = self.s.get(CandidateDelivery, key)
        return None if row is None else row.alert_id

    def add(self, key: str, alert_id: int) -> None:
        self.s.add(CandidateDelivery(key=key, alert_id=alert_id))
