"""The dashboard's HTML pages: server-rendered Jinja2 shells; data comes from the /api routes.

Every page is a thin shell: it knows who is logged in (for the navigation and the role gates) and
its JavaScript fetches everything else from the JSON API, sending the CSRF header on changes, so
the dashboard can do nothing the API would not allow. A role that may not open a page gets a
clear 403 page; an anonymous visitor is sent to the login page; a user with a one-time password
is sent to change it first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from vigil.domain.enums import Role
from vigil.web.deps import Principal, optional_user

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
ALL = frozenset(Role)
REVIEWERS = frozenset({Role.admin, Role.supervisor, Role.operator})
MANAGERS = frozenset({Role.admin, Role.supervisor})
OVERSIGHT = frozenset({Role.admin, Role.auditor})
LOG_READERS = frozenset({Role.admin, Role.auditor, Role.maintainer})
STATIC_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

FAVICON = "favicon.svg"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Page:
    key: str
    path: str
    title: str
    template: str
    roles: frozenset[Role]
    section: str
    in_nav: bool = True


PAGES: tuple[Page, ...] = (
    Page("live", "/live", "Live", "live.html", REVIEWERS, "Operations"),
    Page("alerts", "/alerts", "Alerts", "alerts.html", REVIEWERS, "Operations"),
    Page(
        "watchlists",
        "/watchlists",
        "Watchlists",
        "watchlists.html",
        MANAGERS | {Role.auditor},
        "Watchlists",
    ),
    Page(
        "authorizations",
        "/authorizations",
        "Authorizations",
        "authorizations.html",
        MANAGERS | {Role.auditor},
        "Watchlists",
    ),
    Page("cameras", "/cameras", "Cameras", "cameras.html", ALL, "System"),
    Page("users", "/users", "Users", "users.html", frozenset({Role.admin}), "System"),
    # a supervisor approves maintenance accounts here; admins also have the full Users page
    Page("approvals", "/approvals", "Maintenance approvals", "approvals.html", MANAGERS, "System"),
    Page("logs", "/logs", "Logs", "logs.html", LOG_READERS, "System"),
    Page("audit", "/audit", "Audit log", "audit.html", OVERSIGHT, "Oversight"),
)
REPORT_LINK = Page("report", "/report", "Transparency report", "", frozenset(Role), "Oversight")
_BY_KEY = {p.key: p for p in PAGES}
ROLE_HOME = {
    Role.admin: "/live",
    Role.supervisor: "/live",
    Role.operator: "/live",
    Role.auditor: "/audit",
    Role.maintainer: "/cameras",
}


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(TEMPLATES))


def nav_for(principal: Principal) -> list[tuple[str, list[Page]]]:
    """The navigation sections this user's role can open, in order."""
    sections: dict[str, list[Page]] = {}
    for page in (*PAGES, REPORT_LINK):
        if page.in_nav and principal.role in page.roles:
            sections.setdefault(page.section, []).append(page)
    return list(sections.items())


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status: int = 200,
    active: str = "",
    title: str = "",
    **context: object,
) -> HTMLResponse:
    data = {
        "request": request,
        "user": principal,
        "nav": nav_for(principal) if principal else [],
        "active": active,
        "title": title,
        "csrf_token": principal.csrf_token if principal else "",
        # The live feed and the review badge: reviewers only, and never on the forced
        # password change (the socket would be refused until the password is changed).
        "is_reviewer": bool(
            principal and principal.role in REVIEWERS and not principal.must_change_password
        ),
        **context,
    }
    return templates().TemplateResponse(request, template, data, status_code=status)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _gate(request: Request, page: Page) -> tuple[Principal | None, Response | None]:
    """The user and no response if they may open ``page``; else the response to send instead."""
    principal = optional_user(request)
    if principal is None:
        return None, _login_redirect(request)
    if principal.must_change_password:
        return principal, RedirectResponse("/account/password", status_code=303)
    if principal.role not in page.roles:
        allowed = ", ".join(sorted(r.value for r in page.roles))
        return principal, render(
            request,
            "forbidden.html",
            principal,
            status=403,
            title="Not allowed",
            page_title=page.title,
            role=principal.role.value,
            allowed=allowed,
        )
    return principal, None


def _page_view(page: Page) -> Callable[[Request], Awaitable[Response]]:
    async def view(request: Request) -> Response:
        principal, refusal = _gate(request, page)
        if refusal is not None:
            return refusal
        return render(request, page.template, principal, active=page.key, title=page.title)

    view.__name__ = f"page_{page.key}"
    return view


for _page in PAGES:
    router.add_api_route(
        _page.path, _page_view(_page), methods=["GET"], response_class=HTMLResponse
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    principal = optional_user(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(ROLE_HOME[principal.role], status_code=303)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_review(request: Request, alert_id: int) -> Response:
    principal, refusal = _gate(request, _BY_KEY["alerts"])
    if refusal is not None:
        return refusal
    return render(
        request,
        "review.html",
        principal,
        active="alerts",
        title=f"Alert #{alert_id}",
        alert_id=alert_id,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "") -> Response:
    principal = optional_user(request)
    target = next if next.startswith("/") and not next.startswith("//") else ""
    if principal is not None and not principal.must_change_password:
        return RedirectResponse(target or ROLE_HOME[principal.role], status_code=303)
    return render(request, "login.html", None, title="Log in", next=target)


@router.get("/account/password", response_class=HTMLResponse)
async def password_page(request: Request) -> Response:
    principal = optional_user(request)
    if principal is None:
        return _login_redirect(request)
    return render(
        request,
        "password.html",
        principal,
        title="Change password",
        forced=principal.must_change_password,
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on every page; the dashboard's icon (an SVG)."""
    return FileResponse(
        STATIC / FAVICON,
        media_type=STATIC_TYPES[".svg"],
        headers={"Cache-Control": "max-age=86400"},
    )


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """The dashboard's own CSS/JS (a fixed folder, no traversal: only plain names listed there)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )
