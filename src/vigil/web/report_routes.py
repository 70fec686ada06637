"""Transparency report in the web app: ``GET /report`` (page) and ``GET /api/report`` (download).

Every logged-in role may read it, the auditor included; anonymous callers get 401. The report
holds no personal data (see :mod:`vigil.accountability.report`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from vigil.accountability.report_render import html_sections, render
from vigil.errors import InputError
from vigil.timeutil import parse_iso, utcnow
from vigil.web.deps import AnyRole, OptionalUser, Reports
from vigil.web.pages import render as render_page
from vigil.web.schemas import error_responses

router = APIRouter(responses=error_responses(400, 401, 403, 422))
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
DEFAULT_DAYS = 30
From = Annotated[
    str | None, Query(alias="from", description="ISO 8601 start (default: 30 days ago)")
]
To = Annotated[str | None, Query(alias="to", description="ISO 8601 end (default: now)")]
Format = Annotated[str, Query(alias="format", pattern="^(json|csv|html)$")]


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


UNAUTHORIZED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>'
    '<body><p>You are not logged in. <a href="/login?next=%2Freport">Log in</a> to read the '
    "transparency report.</p></body></html>"
)


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page(
    request: Request, reports: Reports, user: OptionalUser, start: From = None, end: To = None
) -> HTMLResponse:
    """The report in the dashboard's layout, with a period form and download links."""
    if user is None:
        return HTMLResponse(UNAUTHORIZED_PAGE, status_code=401)
    begin, stop = period(start, end)
    report = reports.build(begin, stop)
    return render_page(
        request,
        "report.html",
        user,
        active="report",
        title="Transparency report",
        report_html=html_sections(report),
        first=begin.strftime("%Y-%m-%dT%H:%M"),
        last=stop.strftime("%Y-%m-%dT%H:%M"),
        download_query=urlencode({"from": begin.isoformat(), "to": stop.isoformat()}),
    )


@router.get(
    "/api/report",
    response_class=Response,
    responses={
        200: {
            "description": "the report in the requested format",
            "content": {"application/json": {}, "text/csv": {}, "text/html": {}},
        }
    },
)
def report_api(
    reports: Reports, _user: AnyRole, start: From = None, end: To = None, fmt: Format = "json"
) -> Response:
    """Transparency report figures for a period as JSON, CSV or HTML."""
    begin, stop = period(start, end)
    body = render(reports.build(begin, stop), fmt)
    name = f"vigil-report-{begin:%Y%m%d}-{stop:%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(body, media_type=MEDIA[fmt], headers=headers)
