"""Domain errors -> HTTP, in ONE place. No response ever carries a stack trace.

Every error body has the same shape: ``{"error": <code>, "message": <what went wrong and the
fix>}`` plus ``reason`` for refused photos and ``fields`` for validation errors. The status comes
from ``VigilError.http_status`` (see :mod:`vigil.errors`). Anything unexpected is logged here with
its trace and answered with a generic 500 message.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.errors import EnrollmentRejected, ServiceUnavailable, VigilError
from vigil.services.watchlist_desk import NothingEnrolled

log = logging.getLogger("vigil.web")
__all__ = ["PayloadTooLarge", "ServiceUnavailable", "UnsupportedMediaType", "install"]

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    502: "source_error",
    503: "unavailable",
}


class UnsupportedMediaType(VigilError):
    """The request body has the wrong type (e.g. JSON where a file upload is expected)."""

    http_status = 415


class PayloadTooLarge(StarletteHTTPException):
    """Raised while a body is read, once it passes the limit (see app.BodyLimitMiddleware)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than {limit:,} bytes; send a smaller file "
            "(the limit is max_image_bytes per photo)",
        )


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": _CODES.get(status, "error"), "message": message, **extra}


def _headers(status: int) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None


def describe(exc: VigilError) -> str:
    """The message and its fix as one sentence pair: 'what went wrong; how to fix it'."""
    message = exc.message.rstrip()
    if not exc.hint:
        return message
    return f"{message}{'' if message.endswith(('.', ';', ':', '!', '?')) else ';'} {exc.hint}"


async def vigil_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigilError)
    status = exc.http_status
    extra: dict[str, Any] = {}
    if isinstance(exc, EnrollmentRejected):
        extra = {"reason": exc.reason, "photo": exc.photo}
    elif isinstance(exc, NothingEnrolled):
        extra = {"photos": [asdict(o) for o in exc.outcomes]}
    if status >= 500:
        # the message went to the caller; the log names the kind of problem and the route only
        # (a message may name a photo file: logs carry no personal data, see vigil.services.logs)
        name = type(exc).__name__
        log.error(
            "server-side problem on %s %s: %s (%d)", request.method, request.url.path, name, status
        )
    return JSONResponse(
        error_body(status, describe(exc), **extra), status_code=status, headers=_headers(status)
    )


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such page or API route; see /api/openapi.json"
    headers = dict(exc.headers or {}) | (_headers(exc.status_code) or {})
    return JSONResponse(
        error_body(exc.status_code, message), status_code=exc.status_code, headers=headers
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            detail = (err.get("ctx") or {}).get("error", "JSON decode error")
            out.append(
                {"field": "body", "message": f"not valid JSON at character {where}: {detail}"}
            )
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        out.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
    return out  # the offending input is never echoed (it may be a password)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _field_errors(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return JSONResponse(
        error_body(422, f"the request is not valid: {summary}", fields=fields), status_code=422
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body(
            500,
            "internal error; it has been logged on the server. Try again or tell an administrator.",
        ),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(VigilError, vigil_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
