"""Rows holding biometric data sealed with the data key: templates (and photos), alert crops."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import Alert, Template


class SealedDataRepo:
    """Every row a key rotation must re-seal, in id order (loaded for update in the session)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def templates(self) -> Iterable[Template]:
        return self.s.scalars(select(Template).order_by(Template.id))

    def alerts_with_crops(self) -> Iterable[Alert]:
        return self.s.scalars(select(Alert).where(Alert.crop.is_not(None)).order_by(Alert.id))
