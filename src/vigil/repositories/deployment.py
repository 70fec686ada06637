"""What a deployment's database holds, counted (for `vigil init`'s never-lose-data check)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.db.models import Alert, Template, User


class DeploymentRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def counts(self) -> tuple[int, int, int]:
        """Users, templates and alerts stored."""
        return (
            self.s.scalar(select(func.count(User.id))) or 0,
            self.s.scalar(select(func.count(Template.id))) or 0,
            self.s.scalar(select(func.count(Alert.id))) or 0,
        )
