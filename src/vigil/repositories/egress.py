"""What a deployment reached: deliveries from the audit, camera runs from the sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.db.models import AuditEvent, CameraSession

DELIVERY_ACTIONS = ("alert.outbound", "alert.outbound_failed")


class EgressRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def deliveries(self) -> Sequence[AuditEvent]:
        """Every audited outbound delivery (delivered or given up), oldest first."""
        query = select(AuditEvent).where(AuditEvent.action.in_(DELIVERY_ACTIONS))
        return self.s.scalars(query.order_by(AuditEvent.id)).all()

    def camera_runs(self) -> list[tuple[str, int, datetime]]:
        """Per camera: how many runs (sessions) and when the last one started."""
        query = select(
            CameraSession.camera, func.count(CameraSession.id), func.max(CameraSession.started_at)
        ).group_by(CameraSession.camera)
        return [(str(c), int(n), last) for c, n, last in self.s.execute(query).all()]
