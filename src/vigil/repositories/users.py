"""Users and their API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vigil.db.models import ApiToken, AuditEvent, User
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

    def pending_maintainers(self, now: datetime) -> Sequence[User]:
        """Active maintenance accounts that wait for an approval and have not expired."""
        return self.s.scalars(
            select(User)
            .where(
                User.role == Role.maintainer,
                User.active.is_(True),
                User.approved_at.is_(None),
                User.expires_at > now,
            )
            .order_by(User.id)
        ).all()

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

    def with_owners(self, owner_id: int | None = None) -> list[tuple[ApiToken, str]]:
        query = select(ApiToken, User.username).join(User).order_by(ApiToken.id)
        if owner_id is not None:
            query = query.where(ApiToken.user_id == owner_id)
        return [(token, name) for token, name in self.s.execute(query).all()]

    def delete(self, token: ApiToken) -> None:
        self.s.delete(token)

    def delete_for_user(self, user_id: int) -> int:
        """Delete every token of one user; returns how many there were."""
        ids = self.s.scalars(select(ApiToken.id).where(ApiToken.user_id == user_id)).all()
        if ids:
            self.s.execute(delete(ApiToken).where(ApiToken.id.in_(ids)))
        return len(ids)


# The audit actions that hand a user a credential someone else knows (or chose).
CREDENTIAL_ISSUES = ("user.create", "user.password_reset", "token.create")


class CredentialHistory:
    """Who issued which credential to whom, read from the audit log (the one history kept)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def issued(self, *, by: str, to: str, since: datetime) -> list[str]:
        """The credential-issuing actions ``by`` took on ``to`` since ``since`` (oldest first)."""
        query = (
            select(AuditEvent.action)
            .where(
                AuditEvent.action.in_(CREDENTIAL_ISSUES),
                AuditEvent.actor == by,
                AuditEvent.target == to,
                AuditEvent.ts >= since,
            )
            .order_by(AuditEvent.id)
        )
        return list(self.s.scalars(query).all())

    def token_minter(self, token_id: int) -> str | None:
        """Who created API token ``token_id`` (None when the log does not say)."""
        query = (
            select(AuditEvent.actor)
            .where(
                AuditEvent.action == "token.create",
                AuditEvent.details["token_id"].as_integer() == token_id,
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        return self.s.scalar(query)
