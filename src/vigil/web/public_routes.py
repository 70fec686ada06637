"""The public transparency page, no login: ``GET /public/transparency`` (HTML) and
``GET /public/transparency.json`` (the same figures, signed). 404 unless
``server.public_report``. See :mod:`vigil.accountability.public_report`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from vigil.web.deps import PublicReports
from vigil.web.schemas import error_responses

router = APIRouter(tags=["public"], responses=error_responses(404))


@router.get("/public/transparency", response_class=HTMLResponse, include_in_schema=False)
def public_page(reports: PublicReports) -> HTMLResponse:
    """Monthly aggregates for anyone; small counts shown as '< 5'."""
    return HTMLResponse(reports.html())


@router.get("/public/transparency.json", summary="Signed public transparency figures")
def public_json(reports: PublicReports) -> dict[str, Any]:
    """The public page's figures with an Ed25519 signature over their canonical JSON."""
    return reports.signed()
