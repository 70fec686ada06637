"""Legal authorizations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import (
    Authorization,
)
from vigil.errors import Conflict, NotFound


class AuthorizationRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, auth: Authorization) -> Authorization:
        if self.s.scalar(select(Authorization.id).where(Authorization.reference == auth.reference)):
            raise Conflict(
                f"authorization {auth.reference!r} already exists", hint="use another reference"
            )
        self.s.add(auth)
        self.s.flush()
        return auth

    def get(self, reference: str) -> Authorization:
        found = self.s.scalar(select(Authorization).where(Authorization.reference == reference))
        if found is None:
            raise NotFound(f"no authorization {reference!r}", hint="see `vigil authorization list`")
        return found

    def get_by_id(self, auth_id: int) -> Authorization:
        found = self.s.get(Authorization, auth_id)
        if found is None:
            raise NotFound(f"no authorization with id {auth_id}")
        return found

    def list(self) -> Sequence[Authorization]:
        return self.s.scalars(select(Authorization).order_by(Authorization.id)).all()
