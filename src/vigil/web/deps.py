"""Authentication and role dependencies for routes (API, pages, WebSocket).

Use ``Depends(require_roles(Role.admin, Role.supervisor))`` on each route; ``current_user`` only
checks that someone is logged in. A caller is authenticated by an API token
(``Authorization: Bearer vgl_...``) or by the session cookie; a cookie-authenticated request
that changes state (POST/PUT/PATCH/DELETE) must carry the session's CSRF token in the
``X-CSRF-Token`` header. Users with a one-time password may only reach the auth routes until they
change it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from fastapi import Request
from starlette.requests import HTTPConnection

from vigil.db.models import User
from vigil.domain.enums import Role
from vigil.errors import AuthenticationFailed, PermissionDenied
from vigil.web.security import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, SessionRecord, csrf_ok

if TYPE_CHECKING:
    from vigil.web.app import WebState

ALL_ROLES = tuple(Role)
REVIEWERS = (Role.admin, Role.supervisor, Role.operator)
MANAGERS = (Role.admin, Role.supervisor)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and how they authenticated."""

    id: int
    username: str
    role: Role
    via: Literal["session", "token"]
    must_change_password: bool
    session: SessionRecord | None = None

    @property
    def csrf_token(self) -> str | None:
        return self.session.csrf_token if self.session else None


def web_state(conn: HTTPConnection) -> WebState:
    return conn.app.state.vigil  # type: ignore[no-any-return]


def _from_user(
    user: User, via: Literal["session", "token"], session: SessionRecord | None
) -> Principal:
    return Principal(user.id, user.username, user.role, via, user.must_change_password, session)


def authenticate(conn: HTTPConnection) -> Principal | None:
    """The caller of a request or WebSocket, or None when anonymous. Raises on a bad token."""
    state = web_state(conn)
    header = conn.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("the Authorization header must be 'Bearer <API token>'")
        user = state.users.user_for_token(token.strip())
        if user is None:
            raise AuthenticationFailed(
                "the API token is unknown, revoked or its user is deactivated",
                hint="ask an administrator for a new token",
            )
        return _from_user(user, "token", None)
    record = state.sessions.lookup(conn.cookies.get(SESSION_COOKIE))
    if record is None:
        return None
    with state.context.db.read() as s:
        user = s.get(User, record.user_id)
    if user is None or not user.active:
        state.sessions.end(record.session_id)
        return None
    return _from_user(user, "session", record)


def optional_user(request: Request) -> Principal | None:
    """For pages: the logged-in user or None (no CSRF check; pages render on GET)."""
    try:
        return authenticate(request)
    except AuthenticationFailed:
        return None


def current_user(request: Request) -> Principal:
    """Any logged-in user; enforces CSRF for cookie sessions on state-changing methods."""
    principal = authenticate(request)
    if principal is None:
        raise AuthenticationFailed(
            "you are not logged in", hint="log in at POST /api/auth/login or send an API token"
        )
    if principal.via == "session" and request.method not in SAFE_METHODS:
        assert principal.session is not None
        if not csrf_ok(principal.session, request.headers.get(CSRF_HEADER)):
            raise PermissionDenied(
                "missing or wrong CSRF token",
                hint=f"send the value of the vigil_csrf cookie in the {CSRF_HEADER} header",
            )
    return principal


def require_roles(
    *roles: Role, allow_unchanged_password: bool = False
) -> Callable[[Request], Principal]:
    """A dependency admitting only the given roles (401 if anonymous, 403 otherwise)."""
    allowed = frozenset(roles)
    names = ", ".join(r.value for r in roles)

    def dependency(request: Request) -> Principal:
        principal = current_user(request)
        if principal.role not in allowed:
            raise PermissionDenied(
                f"the {principal.role.value} role may not do this; it needs one of: {names}",
                hint="ask an administrator if your role should change",
            )
        if principal.must_change_password and not allow_unchanged_password:
            raise PermissionDenied(
                "you must change your one-time password first", hint="use POST /api/auth/password"
            )
        return principal

    dependency.__name__ = f"require_roles_{'_'.join(r.value for r in roles)}"
    return dependency


def same_origin(conn: HTTPConnection) -> bool:
    """False when a browser says the connection comes from another site (Origin vs Host)."""
    origin = conn.headers.get("origin")
    if not origin:
        return True  # not a browser (or a same-origin request that omits it)
    return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower()


def websocket_user(conn: HTTPConnection) -> Principal | None:
    """For the WebSocket: the session/token user or None (never raises).

    A handshake from another site's page is refused even with a valid cookie (cross-site
    WebSocket hijacking), since CSRF tokens do not apply to WebSockets.
    """
    if not same_origin(conn):
        return None
    try:
        principal = authenticate(conn)
    except AuthenticationFailed:
        return None
    if principal is None or principal.must_change_password:
        return None
    return principal
