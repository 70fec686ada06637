"""The OpenAPI document and its browsable docs, for logged-in users only (like every /api route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from vigil.web.deps import AnyRole

router = APIRouter(tags=["docs"], include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, _u: AnyRole) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def docs(request: Request, _u: AnyRole) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/api/openapi.json", title=f"{request.app.title} - docs")
