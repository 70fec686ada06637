"""Transparency report in the web app: ``GET /report`` (page) and ``GET /api/report`` (download).

Every logged-in role may read it, the auditor included; anonymous callers get 401. The report
holds no personal data (see :mod:`vigil.accountability.report`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from vigil.accountability.report import build_report
from vigil.accountability.report_render import render, to_html
from vigil.domain.enums import Role
from vigil.errors import InputError
from vigil.timeutil import parse_iso, utcnow
from vigil.web.deps import Principal, optional_user, require_roles, web_state

router = APIRouter()
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
DEFAULT_DAYS = 30


def period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    stop = parse_iso(end, name="to") if end else utcnow()
    begin = parse_iso(start, name="from") if start else stop - timedelta(days=DEFAULT_DAYS)
    if stop <= begin:
        raise InputError("the report period is empty: 'to' must be after 'from'")
    if stop - begin > timedelta(days=3660):
        raise InputError(
            "the report period is longer than 10 years", hint="choose a shorter period"
        )
    return begin, stop


def _controls(begin: datetime, stop: datetime) -> str:
    query = {"from": begin.isoformat(), "to": stop.isoformat()}
    links = " &middot; ".join(
        f'<a href="/api/report?{escape(urlencode({**query, "format": f}))}">{f.upper()}</a>'
        for f in ("json", "csv", "html")
    )
    first, last = (escape(t.strftime("%Y-%m-%dT%H:%M")) for t in (begin, stop))
    return (
        '<nav><a href="/">&larr; Dashboard</a></nav><form method="get" action="/report">'
        f'<label>From (UTC) <input name="from" value="{first}"></label> '
        f'<label>To <input name="to" value="{last}"></label> '
        f'<button type="submit">Show</button> Download: {links}</form>'
    )


UNAUTHORIZED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>'
    '<body><p>You are not logged in. <a href="/login?next=%2Freport">Log in</a> to read the '
    "transparency report.</p></body></html>"
)


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page(
    request: Request,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
) -> HTMLResponse:
    """The report as a page with a period form and download links."""
    if optional_user(request) is None:
        return HTMLResponse(UNAUTHORIZED_PAGE, status_code=401)
    state = web_state(request)
    begin, stop = period(start, end)
    report = build_report(state.context.db, state.settings, begin, stop)
    return HTMLResponse(to_html(report, controls=_controls(begin, stop)))


@router.get("/api/report")
def report_api(
    request: Request,
    start: str | None = Query(
        None, alias="from", description="ISO 8601 start (default: 30 days ago)"
    ),
    end: str | None = Query(None, alias="to", description="ISO 8601 end (default: now)"),
    fmt: str = Query("json", alias="format", pattern="^(json|csv|html)$"),
    _user: Principal = Depends(require_roles(*Role)),
) -> Response:
    """Transparency report figures for a period as JSON, CSV or HTML."""
    state = web_state(request)
    begin, stop = period(start, end)
    body = render(build_report(state.context.db, state.settings, begin, stop), fmt)
    name = f"vigil-report-{begin:%Y%m%d}-{stop:%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(body, media_type=MEDIA[fmt], headers=headers)
