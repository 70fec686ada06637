"""What an evidence export reads: the chosen alerts, who they concern, their subjects' templates."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vigil.db.models import Alert, Authorization, Subject, Template, Watchlist


@dataclass(frozen=True, slots=True)
class AlertOwners:
    """Names an alert points to (None where the row is gone)."""

    subject: str | None
    watchlist: str | None
    authorization: str | None


class EvidenceRepo:
    """Reads for :mod:`vigil.accountability.export`; nothing here writes."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def alerts(
        self, ids: Collection[int], start: datetime | None, end: datetime | None
    ) -> Sequence[Alert]:
        """Alerts by id and/or first-seen window, oldest first, with their reviews loaded."""
        q = select(Alert).options(selectinload(Alert.reviews)).order_by(Alert.id)
        if ids:
            q = q.where(Alert.id.in_(ids))
        if start:
            q = q.where(Alert.first_seen >= start)
        if end:
            q = q.where(Alert.first_seen < end)
        return self.s.scalars(q).all()

    def owners(self, alert: Alert) -> AlertOwners:
        subject = self.s.get(Subject, alert.subject_id)
        watchlist = self.s.get(Watchlist, alert.watchlist_id)
        auth = self.s.get(Authorization, alert.authorization_id)
        return AlertOwners(
            subject.name if subject else None,
            watchlist.name if watchlist else None,
            auth.reference if auth else None,
        )

    def templates_of(self, subject_ids: Collection[int]) -> Sequence[Template]:
        return self.s.scalars(select(Template).where(Template.subject_id.in_(subject_ids))).all()
