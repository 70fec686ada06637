"""Health, login/logout, the current user and password changes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from vigil.config import ServerConfig
from vigil.web.deps import (
    AnyRoleUnchangedPassword,
    Auth,
    ClientAddress,
    ServerSettings,
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
    auth: Auth,
    server: ServerSettings,
) -> Me:
    new = auth.login(body.username, body.password, client=client)
    _set_cookies(response, server, new.cookie, new.record.csrf_token)
    return Me(
        id=new.user.id,
        username=new.user.username,
        role=new.user.role,
        via="session",
        must_change_password=new.user.must_change_password,
        csrf_token=new.record.csrf_token,
    )


@router.post("/auth/logout", status_code=204, summary="End this session")
def logout(client: ClientAddress, auth: Auth, user: AnyRoleUnchangedPassword) -> Response:
    auth.logout(user.session, user.username, client=client)
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
    body: PasswordChange, auth: Auth, server: ServerSettings, user: AnyRoleUnchangedPassword
) -> Response:
    new = auth.change_password(
        user.id,
        body.current_password,
        body.new_password,
        keep_tokens=body.keep_tokens,
        with_session=user.session is not None,
    )
    response = Response(status_code=204)
    if new is not None:  # every session ended; this browser gets a fresh one
        _set_cookies(response, server, new.cookie, new.record.csrf_token)
    return response
