"""The OpenAPI document, for logged-in users only (like every /api route).

There is no browsable docs page: FastAPI's Swagger UI and ReDoc load their scripts from a CDN, and
a running Vigil connects to nothing but its configured endpoints (README "What Vigil connects
to"). Open ``/api/openapi.json`` in any OpenAPI viewer of your own.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vigil.web.deps import AnyRole

router = APIRouter(tags=["docs"], include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, _u: AnyRole) -> JSONResponse:
    return JSONResponse(request.app.openapi())
