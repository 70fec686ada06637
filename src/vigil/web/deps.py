"""What routes depend on: the caller (with their role) and the one service they call.

Routes declare both as ``Annotated`` parameters, e.g. ``def f(reviews: Reviews, user: Reviewer)``;
this is the only module that reads the app's services from ``app.state``.

A caller is authenticated by an API token (``Authorization: Bearer vgl_...``) or by the session
cookie; a cookie-authenticated request that changes state (POST/PUT/PATCH/DELETE) must carry the
session's CSRF token in the ``X-CSRF-Token`` header. Users with a one-time password may only reach
the auth routes until they change it. The role aliases (``Reviewer``, ``Manager`` ...) answer 401
to anonymous callers and 403 to other roles.

Every principal names its credential (:attr:`Principal.credential`, never a secret); the role
dependencies bind it to the request so every audit record the request makes names it
(:func:`vigil.accountability.audit.bind_credential`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated, Literal, TypeVar, cast
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from vigil.accountability.audit import bind_credential
from vigil.config import ServerConfig, Settings
from vigil.domain.enums import Role
from vigil.errors import AuthenticationFailed, NotFound, PermissionDenied
from vigil.services.admin import AdminService
from vigil.services.alerts import AlertBus, AlertQueries
from vigil.services.auth import AuthService
from vigil.services.authorizations import AuthorizationService
from vigil.services.camera_control import CameraControl
from vigil.services.credential_cache import credential_key
from vigil.services.egress import EgressService
from vigil.services.logs import LogService
from vigil.services.maintainers import account_usable
from vigil.services.public_report import PublicReportService
from vigil.services.reports import ReportService
from vigil.services.reviews import ReviewService
from vigil.services.sessions import SessionRecord, SessionService
from vigil.services.sighting_reviews import SightingReviewService
from vigil.services.throttle import LoginThrottle
from vigil.services.users import UserService
from vigil.services.watchlist_desk import WatchlistDesk
from vigil.timeutil import utcnow
from vigil.web.security import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    csrf_ok,
)
from vigil.web.state import WebState
from vigil.web.telemetry import VigilMetrics

ALL_ROLES = tuple(Role)
REVIEWERS = (Role.admin, Role.supervisor, Role.operator)
MANAGERS = (Role.admin, Role.supervisor)
CAMERA_KEEPERS = (*MANAGERS, Role.maintainer)  # may restart (stop/start) cameras
LOG_READERS = (Role.admin, Role.auditor, Role.maintainer)  # the server's recent log records
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and how they authenticated."""

    id: int
    username: str
    role: Role
    via: Literal["session", "token"]
    must_change_password: bool
    credential: str
    session: SessionRecord | None = None
    expires_at: datetime | None = (
        None  # a maintenance account's end of access (checked when cached)
    )

    @property
    def csrf_token(self) -> str | None:
        return self.session.csrf_token if self.session else None


# -- services (the one place that reads app.state) ----------------------------------------------
def _state(conn: HTTPConnection) -> WebState:
    return cast(WebState, conn.app.state.vigil)


def get_settings(conn: HTTPConnection) -> Settings:
    return _state(conn).settings


def get_server_settings(conn: HTTPConnection) -> ServerConfig:
    return _state(conn).settings.server


def get_users(conn: HTTPConnection) -> UserService:
    return _state(conn).users


def get_sessions(conn: HTTPConnection) -> SessionService:
    return _state(conn).sessions


def get_auth(conn: HTTPConnection) -> AuthService:
    return _state(conn).auth


def get_throttle(conn: HTTPConnection) -> LoginThrottle:
    return _state(conn).throttle


def client_address(conn: HTTPConnection) -> str:
    """The caller's address: the peer, or the X-Forwarded-For hop a trusted proxy vouches for.

    ``X-Forwarded-For`` is read only when the peer is one of ``server.trusted_proxies``; then
    its entries are walked from the right (the ones the trusted proxies appended) and the first
    address that is not itself a trusted proxy is the client. A spoofed header from anyone else
    is ignored, so it cannot dodge the login throttle or be written into the audit.
    """
    peer = conn.client.host if conn.client else "unknown"
    proxies = get_server_settings(conn).trusted_proxies
    if not proxies or not _in_networks(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _in_networks(hop, proxies):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


def _in_networks(address: str, networks: list[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def get_reviews(conn: HTTPConnection) -> ReviewService:
    return _state(conn).reviews


def get_sighting_reviews(conn: HTTPConnection) -> SightingReviewService:
    return _state(conn).sighting_reviews


def get_alerts(conn: HTTPConnection) -> AlertQueries:
    return _state(conn).alerts


def get_cameras(conn: HTTPConnection) -> CameraControl:
    return _state(conn).cameras


def get_authorizations(conn: HTTPConnection) -> AuthorizationService:
    return _state(conn).authorizations


def get_watchlists(conn: HTTPConnection) -> WatchlistDesk:
    return _state(conn).watchlists


def get_admin(conn: HTTPConnection) -> AdminService:
    return _state(conn).admin


def get_reports(conn: HTTPConnection) -> ReportService:
    return _state(conn).reports


def get_public_reports(conn: HTTPConnection) -> PublicReportService:
    return _state(conn).public_reports


def get_egress(conn: HTTPConnection) -> EgressService:
    state = _state(conn)
    return EgressService(state.context.db, state.settings)


def get_logs(conn: HTTPConnection) -> LogService:
    return _state(conn).logs


def get_metrics(conn: HTTPConnection) -> VigilMetrics:
    return _state(conn).metrics


def get_bus(conn: HTTPConnection) -> AlertBus:
    return _state(conn).bus


def get_session_check_seconds(conn: HTTPConnection) -> float:
    return _state(conn).ws_session_check_seconds


def _on_loop(get: Callable[[HTTPConnection], T]) -> Callable[[HTTPConnection], Awaitable[T]]:
    """``get`` as an async dependency: FastAPI runs a plain function in the thread pool (a
    thread hop per dependency per request); these only read ``app.state``, so they run on the
    event loop. The plain functions stay callable as they are."""

    async def dependency(conn: HTTPConnection) -> T:
        return get(conn)

    dependency.__name__ = get.__name__
    return dependency


ClientAddress = Annotated[str, Depends(_on_loop(client_address))]
AppSettings = Annotated[Settings, Depends(_on_loop(get_settings))]
ServerSettings = Annotated[ServerConfig, Depends(_on_loop(get_server_settings))]
Users = Annotated[UserService, Depends(_on_loop(get_users))]
Sessions = Annotated[SessionService, Depends(_on_loop(get_sessions))]
Throttle = Annotated[LoginThrottle, Depends(_on_loop(get_throttle))]
Auth = Annotated[AuthService, Depends(_on_loop(get_auth))]
Reviews = Annotated[ReviewService, Depends(_on_loop(get_reviews))]
SightingReviews = Annotated[SightingReviewService, Depends(_on_loop(get_sighting_reviews))]
Alerts = Annotated[AlertQueries, Depends(_on_loop(get_alerts))]
Cameras = Annotated[CameraControl, Depends(_on_loop(get_cameras))]
Authorizations = Annotated[AuthorizationService, Depends(_on_loop(get_authorizations))]
Watchlists = Annotated[WatchlistDesk, Depends(_on_loop(get_watchlists))]
Admin = Annotated[AdminService, Depends(_on_loop(get_admin))]
Reports = Annotated[ReportService, Depends(_on_loop(get_reports))]
Metrics = Annotated[VigilMetrics, Depends(_on_loop(get_metrics))]
PublicReports = Annotated[PublicReportService, Depends(_on_loop(get_public_reports))]
Egress = Annotated[EgressService, Depends(_on_loop(get_egress))]
Logs = Annotated[LogService, Depends(_on_loop(get_logs))]


# -- who is calling ----------------------------------------------------------------------------
def _credential(conn: HTTPConnection) -> tuple[Literal["token", "session"], str] | None:
    """The credential a request presents (no I/O), or None. Raises on a malformed header."""
    header = conn.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("the Authorization header must be 'Bearer <API token>'")
        return "token", token.strip()
    cookie = conn.cookies.get(SESSION_COOKIE)
    return ("session", cookie) if cookie else None


def remembered_user(conn: HTTPConnection) -> Principal | None:
    """The caller as the credential cache remembers them (no I/O), or None: then call
    :func:`authenticate`. A remembered session is still checked against its expiry."""
    credential = _credential(conn)
    if credential is None:
        return None
    found = _state(conn).principals.get(credential_key(*credential))
    if not isinstance(found, Principal):
        return None
    now = utcnow()
    if found.session is not None and found.session.expires_at <= now:
        return None
    if found.expires_at is not None and found.expires_at <= now:  # maintenance access ended
        return None
    return found


def authenticate(conn: HTTPConnection) -> Principal | None:
    """The caller of a request or WebSocket, or None when anonymous. Raises on a bad token.

    A successful answer is remembered briefly (:mod:`vigil.services.credential_cache`); every
    credential change in this process forgets it at once."""
    credential = _credential(conn)
    if credential is None:
        return None
    found = remembered_user(conn)
    if found is not None:
        return found
    cache = _state(conn).principals
    generation = cache.generation  # read before the database: a change after it wins
    kind, secret = credential
    principal = _token_user(conn, secret) if kind == "token" else _session_user(conn, secret)
    if principal is not None:
        cache.put(credential_key(kind, secret), principal, generation)
    return principal


def _token_user(conn: HTTPConnection, token: str) -> Principal:
    found = _state(conn).users.token_login(token)
    if found is None:
        raise AuthenticationFailed(
            "the API token is unknown, revoked or its user is deactivated",
            hint="log in and create a new token at POST /api/tokens",
        )
    owner = found.user
    return Principal(
        owner.id,
        owner.username,
        owner.role,
        "token",
        owner.must_change_password,
        token_credential(found.token_id),
        expires_at=owner.expires_at,
    )


def _session_user(conn: HTTPConnection, cookie: str) -> Principal | None:
    state = _state(conn)
    record = state.sessions.lookup(cookie)
    if record is None:
        return None
    try:
        user = state.users.get(record.user_id)
    except NotFound:
        user = None
    if user is None or not account_usable(user):  # deactivated, or a maintainer's access ended
        state.sessions.end(record.session_id)
        return None
    return Principal(
        user.id,
        user.username,
        user.role,
        "session",
        user.must_change_password,
        session_credential(record),
        record,
        expires_at=user.expires_at,
    )


def token_credential(token_id: int) -> str:
    """The audit name of an API token: its row id."""
    return f"token:{token_id}"


def session_credential(record: SessionRecord) -> str:
    """The audit name of a login session: a prefix of the SHA-256 the table stores (not the
    cookie's secret)."""
    return f"session:{record.session_id[:16]}"


def optional_user(request: Request) -> Principal | None:
    """For pages: the logged-in user or None (no CSRF check; pages render on GET)."""
    try:
        return authenticate(request)
    except AuthenticationFailed:
        return None


def current_user(request: Request) -> Principal:
    """Any logged-in user; enforces CSRF for cookie sessions on state-changing methods."""
    return _logged_in(authenticate(request), request)


def _logged_in(principal: Principal | None, request: Request) -> Principal:
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
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting only the given roles (401 if anonymous, 403 otherwise).

    It runs in the request's own task so that the credential it binds for the audit is seen by
    the route, which runs in a copy of that context. A caller the credential cache remembers is
    checked right there (no I/O, no thread hop); any other is looked up in the thread pool. The
    role, password and CSRF checks are the same either way.
    """
    allowed = frozenset(roles)
    names = ", ".join(r.value for r in roles)

    def check(principal: Principal) -> Principal:
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

    async def dependency(request: Request) -> Principal:
        remembered = remembered_user(request)
        if remembered is not None:
            principal = check(_logged_in(remembered, request))
        else:
            principal = check(await run_in_threadpool(current_user, request))
        bind_credential(principal.credential)
        return principal

    dependency.__name__ = f"require_roles_{'_'.join(r.value for r in roles)}"
    return dependency


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
AnyRole = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
AnyRoleUnchangedPassword = Annotated[
    Principal, Depends(require_roles(*ALL_ROLES, allow_unchanged_password=True))
]
AdminUser = Annotated[Principal, Depends(require_roles(Role.admin))]
Manager = Annotated[Principal, Depends(require_roles(*MANAGERS))]
ManagerOrAuditor = Annotated[Principal, Depends(require_roles(*MANAGERS, Role.auditor))]
CameraKeeper = Annotated[Principal, Depends(require_roles(*CAMERA_KEEPERS))]
MaintainerApprover = Annotated[Principal, Depends(require_roles(*MANAGERS))]
Reviewer = Annotated[Principal, Depends(require_roles(*REVIEWERS))]
AuditReader = Annotated[Principal, Depends(require_roles(Role.auditor, Role.admin))]
LogReader = Annotated[Principal, Depends(require_roles(*LOG_READERS))]


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
