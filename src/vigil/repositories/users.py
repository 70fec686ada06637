"""Users and their API tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.db.models import ApiToken, User
from vigil.domain.enums import Role
from vigil.errors import NotFound


class UserRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, user: User) -> User:
        self.s.add(user)
        self.s.flush()
        return user

    def get(self, user_id: int) -> User:
        user = self.s.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}", hint="see GET /api/users")
        return user

    def find(self, user_id: int) -> User | None:
        return self.s.get(User, user_id)

    def by_name(self, username: str) -> User | None:
        return self.s.scalar(select(User).where(User.username == username))

    def list(self) -> Sequence[User]:
        return self.s.scalars(select(User).order_by(User.id)).all()

    def active_admins(self) -> int:
        return int(
            self.s.scalar(
                select(func.count(User.id)).where(User.role == Role.admin, User.active.is_(True))
            )
            or 0
        )


class TokenRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, token: ApiToken) -> ApiToken:
        self.s.add(token)
        self.s.flush()
        return token

    def get(self, token_id: int) -> ApiToken:
        token = self.s.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"no API token with id {token_id}", hint="see GET /api/tokens")
        return token

    def find(self, token_id: int) -> ApiToken | None:
        return self.s.get(ApiToken, token_id)

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return self.s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    def with_owners(self) -> list[tuple[ApiToken, str]]:
        rows = self.s.execute(select(ApiToken, User.username).join(User).order_by(ApiToken.id))
        return [(token, name) for token, name in rows.all()]

    def delete(self, token: ApiToken) -> None:
        self.s.delete(token)
