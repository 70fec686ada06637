"""Health, login/logout, the current user and password changes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from vigil.config import ServerConfig
from vigil.services.throttle import LoginThrottled
from vigil.web.deps import (
    AnyRoleUnchangedPassword,
    ClientAddress,
    ServerSettings,
    Sessions,
    Throttle,
    Users,
)
from vigil.web.schemas import Health, LoginRequest, Me, PasswordChange, error_responses
from vigil.web.security import CSRF_COOKIE, SESSION_COOKIE

router = APIRouter(tags=["auth"], responses=error_responses(429))
log = logging.getLogger("vigil.web")


@router.get("/health", response_model=Health, summary="Liveness check (no login needed)")
def health(request: Request) -> Health:
    return Health(version=request.app.version)


def _set_cookies(response: Response, server: ServerConfig, cookie: str, csrf: str) -> None:
    max_age = int(server.session_hours * 3600)
    secure = server.secure_cookies
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )


@router.post("/auth/login", response_model=Me, summary="Log in; sets the session and CSRF cookies")
def login(
    body: LoginRequest,
    client: ClientAddress,
    response: Response,
    users: Users,
    sessions: Sessions,
    throttle: Throttle,
    server: ServerSettings,
) -> Me:
    if not throttle.allow(client):
        log.warning("login throttled for %s", client)
        raise LoginThrottled(
            "too many login attempts from your address", hint="wait a minute and try again"
        )
    user = users.login(body.username, body.password, client=client)
    record, cookie = sessions.create(user.id)
    _set_cookies(response, server, cookie, record.csrf_token)
    return Me(
        id=user.id,
        username=user.username,
        role=user.role,
        via="session",
        must_change_password=user.must_change_password,
        csrf_token=record.csrf_token,
    )


@router.post("/auth/logout", status_code=204, summary="End this session")
def logout(
    client: ClientAddress, users: Users, sessions: Sessions, user: AnyRoleUnchangedPassword
) -> Response:
    if user.session is not None:
        sessions.end(user.session.session_id)
        users.logout(user.username, client=client)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=Me, summary="Who am I")
def me(user: AnyRoleUnchangedPassword) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        role=user.role,
        via=user.via,
        must_change_password=user.must_change_password,
        csrf_token=user.csrf_token,
    )


@router.post("/auth/password", status_code=204, summary="Change my password")
def change_password(
    body: PasswordChange,
    users: Users,
    sessions: Sessions,
    server: ServerSettings,
    user: AnyRoleUnchangedPassword,
) -> Response:
    users.change_password(
        user.id, body.current_password, body.new_password, keep_tokens=body.keep_tokens
    )
    # Other sessions of this user end; this one stays.
    sessions.end_user(user.id)
    if user.session is not None:
        record, cookie = sessions.create(user.id)
        response = Response(status_code=204)
        _set_cookies(response, server, cookie, record.csrf_token)
        return response
    return Response(status_code=204)
