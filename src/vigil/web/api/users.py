"""Users (administrators only; supervisors list and approve pending maintenance accounts) and
API tokens (each user mints their own; admins list and revoke anyone's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from fastapi import APIRouter, Response

from vigil.domain.enums import Role
from vigil.errors import PermissionDenied
from vigil.web.deps import AdminUser, AnyRole, MaintainerApprover, Users
from vigil.web.schemas import (
    EntityId,
    MaintainerCreate,
    MaintainerPending,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
    UserWithPassword,
)


class _Token(Protocol):
    """What a stored token shows (the service's rows; web never imports the database layer)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


router = APIRouter(tags=["users"])


@router.get("/users", response_model=list[UserPublic], summary="List users")
def list_users(users: Users, _u: AdminUser) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in users.list()]


@router.post(
    "/users",
    response_model=UserWithPassword,
    status_code=201,
    summary="Create a user with a generated one-time password",
)
def create_user(body: UserCreate, users: Users, admin: AdminUser) -> UserWithPassword:
    user, password = users.create(body.username, body.role, actor=admin.username)
    return UserWithPassword(user=UserPublic.model_validate(user), one_time_password=password)


@router.post(
    "/users/maintainers",
    response_model=UserWithPassword,
    status_code=201,
    summary="Create a maintenance account (at most 72 h; a second person must approve it)",
)
def create_maintainer(body: MaintainerCreate, users: Users, admin: AdminUser) -> UserWithPassword:
    user, password = users.create_maintainer(
        body.username, timedelta(hours=body.hours), actor=admin.username
    )
    return UserWithPassword(user=UserPublic.model_validate(user), one_time_password=password)


@router.get(
    "/users/maintainers/pending",
    response_model=list[MaintainerPending],
    summary="Maintenance accounts waiting for a second person's approval (admins, supervisors)",
)
def pending_maintainers(users: Users, _u: MaintainerApprover) -> list[MaintainerPending]:
    return [MaintainerPending.model_validate(u) for u in users.pending_maintainers()]


@router.post(
    "/users/{user_id}/approve",
    response_model=UserPublic,
    summary="Approve a maintenance account (another admin or a supervisor, not its creator)",
)
def approve_maintainer(user_id: EntityId, users: Users, approver: MaintainerApprover) -> UserPublic:
    return UserPublic.model_validate(users.approve_maintainer(user_id, actor=approver.username))


@router.patch(
    "/users/{user_id}", response_model=UserPublic, summary="Change a user's role or deactivate it"
)
def update_user(user_id: EntityId, body: UserUpdate, users: Users, admin: AdminUser) -> UserPublic:
    # A role change or a deactivation ends the user's sessions in the same transaction.
    user = users.update(user_id, role=body.role, active=body.active, actor=admin.username)
    return UserPublic.model_validate(user)


@router.post(
    "/users/{user_id}/reset-password",
    response_model=UserWithPassword,
    summary="Give a user a new one-time password (also lifts a lockout)",
)
def reset_password(user_id: EntityId, users: Users, admin: AdminUser) -> UserWithPassword:
    user, password = users.reset_password(user_id, actor=admin.username)  # ends their sessions
    return UserWithPassword(user=UserPublic.model_validate(user), one_time_password=password)


def _public(token: _Token, owner: str) -> TokenPublic:
    return TokenPublic(
        id=token.id,
        user_id=token.user_id,
        username=owner,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


@router.get(
    "/tokens",
    response_model=list[TokenPublic],
    summary="API tokens (never their secrets): all of them for an admin, otherwise one's own",
)
def list_tokens(users: Users, user: AnyRole) -> list[TokenPublic]:
    owner = None if user.role is Role.admin else user.id
    return [_public(t, name) for t, name in users.list_tokens(owner)]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create an API token for MYSELF (the secret is shown once)",
    responses={403: {"description": "a token for someone else, or asked with a token"}},
)
def create_token(body: TokenCreate, users: Users, user: AnyRole) -> TokenCreated:
    if body.user_id is not None and body.user_id != user.id:
        raise PermissionDenied(
            f"you ({user.username}) may not create an API token for user {body.user_id}: "
            "tokens are created by their owner only",
            hint="that user logs in and creates it; leave out user_id for a token of your own",
        )
    if user.via != "session":
        raise PermissionDenied(
            "an API token cannot create API tokens",
            hint="log in with your password and create it there",
        )
    token, secret = users.create_token(user.id, body.name, actor=user.username)
    return TokenCreated(token=_public(token, user.username), secret=secret)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token (an admin: anyone's; others: their own)",
)
def revoke_token(token_id: EntityId, users: Users, user: AnyRole) -> Response:
    owner = None if user.role is Role.admin else user.id
    users.revoke_token(token_id, actor=user.username, owner_id=owner)
    return Response(status_code=204)
