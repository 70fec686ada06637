"""Users and API tokens (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vigil.web.deps import AdminUser, Sessions, Users
from vigil.web.schemas import (
    EntityId,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
    UserWithPassword,
)

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


@router.patch(
    "/users/{user_id}", response_model=UserPublic, summary="Change a user's role or deactivate it"
)
def update_user(
    user_id: EntityId, body: UserUpdate, users: Users, sessions: Sessions, admin: AdminUser
) -> UserPublic:
    user = users.update(user_id, role=body.role, active=body.active, actor=admin.username)
    if body.role is not None or body.active is False:
        sessions.end_user(user.id)  # the new role applies from the next login
    return UserPublic.model_validate(user)


@router.post(
    "/users/{user_id}/reset-password",
    response_model=UserWithPassword,
    summary="Give a user a new one-time password (also lifts a lockout)",
)
def reset_password(
    user_id: EntityId, users: Users, sessions: Sessions, admin: AdminUser
) -> UserWithPassword:
    user, password = users.reset_password(user_id, actor=admin.username)
    sessions.end_user(user.id)
    return UserWithPassword(user=UserPublic.model_validate(user), one_time_password=password)


@router.get(
    "/tokens", response_model=list[TokenPublic], summary="List API tokens (never their secrets)"
)
def list_tokens(users: Users, _u: AdminUser) -> list[TokenPublic]:
    return [
        TokenPublic(
            id=t.id,
            user_id=t.user_id,
            username=name,
            name=t.name,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
        )
        for t, name in users.list_tokens()
    ]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create an API token for a user (the secret is shown once)",
)
def create_token(body: TokenCreate, users: Users, admin: AdminUser) -> TokenCreated:
    token, secret = users.create_token(body.user_id, body.name, actor=admin.username)
    owner = users.get(token.user_id)
    public = TokenPublic(
        id=token.id,
        user_id=token.user_id,
        username=owner.username,
        name=token.name,
        created_at=token.created_at,
        last_used_at=None,
    )
    return TokenCreated(token=public, secret=secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(token_id: EntityId, users: Users, admin: AdminUser) -> Response:
    users.revoke_token(token_id, actor=admin.username)
    return Response(status_code=204)
