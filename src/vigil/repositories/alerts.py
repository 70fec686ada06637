"""Candidate and reviewed alerts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Alert,
)
from vigil.domain.enums import AlertStatus
from vigil.errors import NotFound
from vigil.repositories._rows import rowcount


class AlertRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, alert: Alert) -> Alert:
        self.s.add(alert)
        self.s.flush()
        return alert

    def get(self, alert_id: int) -> Alert:
        found = self.s.get(Alert, alert_id)
        if found is None:
            raise NotFound(f"no alert with id {alert_id}")
        return found

    def list(
        self,
        *,
        camera: str | None = None,
        status: AlertStatus | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Alert]:
        q = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if camera:
            q = q.where(Alert.camera == camera)
        if status:
            q = q.where(Alert.status == status)
        if before_id:
            q = q.where(Alert.id < before_id)
        return self.s.scalars(q).all()

    def delete_for_authorization(self, auth_id: int) -> int:
        return rowcount(self.s.execute(delete(Alert).where(Alert.authorization_id == auth_id)))
