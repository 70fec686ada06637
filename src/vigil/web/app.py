"""The command center's FastAPI application, built by :func:`create_app` (nothing at import time).

The REST API lives under ``/api`` (OpenAPI at ``/api/openapi.json``; no Swagger UI, which
would load from a CDN);
``GET /api/health`` is the only API route open without login. Pages, the WebSocket and report
routes come from ``vigil.web.pages``, ``vigil.web.ws`` and ``vigil.web.report_routes``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.config import Settings
from vigil.context import AppContext, build_context
from vigil.errors import ConfigError
from vigil.services.admin import load_preview_blur
from vigil.services.alert_cache import AlertPageCache
from vigil.services.alerts import AlertBus, AlertQueries
from vigil.services.credential_cache import CredentialCache
from vigil.services.logs import LogService
from vigil.services.outbound import Outbox, OutboxDeliverer
from vigil.services.reviews import ReviewService
from vigil.services.sessions import SessionService
from vigil.services.throttle import LoginThrottle
from vigil.services.users import UserService
from vigil.services.watchlist_desk import MAX_PHOTOS_PER_UPLOAD
from vigil.web import errors
from vigil.web.errors import PayloadTooLarge, error_body
from vigil.web.state import WebState
from vigil.web.telemetry import VigilMetrics

if TYPE_CHECKING:
    from vigil.runtime.engine import CameraEngine

log = logging.getLogger("vigil.web")

JSON_BODY_LIMIT = 1_000_000


class BodyLimitMiddleware:
    """Refuses oversized bodies: by Content-Length before reading, and by counting while reading."""

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.upload_limit if multipart else self.json_limit
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


# Pages load scripts and styles from /static only; inline style attributes are used by the
# templates and the report. No page loads anything from another host.
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    b"form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeadersMiddleware:
    """Adds browser hardening headers (a Content-Security-Policy among them) to every response;
    API answers are never cached. ``hsts`` (with secure cookies: the site is served over HTTPS)
    also sends Strict-Transport-Security."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = (*SECURITY_HEADERS, HSTS) if hsts else SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        is_api = path.startswith("/api/")
        csp = (b"content-security-policy", CSP)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [h for h in (*self.headers, csp) if h[0] not in present]
                if is_api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413, PayloadTooLarge(limit).detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _secret(settings: Settings, ephemeral_secret: bool) -> str:
    if settings.server.secret_key is not None:
        return settings.server.secret_key.get_secret_value()
    if ephemeral_secret:
        return secrets.token_urlsafe(48)  # explicit request (tests): sessions die with the process
    raise ConfigError(
        "server.secret_key",
        "no session signing key is configured",
        hint="run `vigil init` (it writes a random key into vigil.yaml) or set VIGIL_SECRET_KEY",
    )


def _build_state(
    settings: Settings,
    context: AppContext | None,
    supervisor: CameraEngine | None,
    bus: AlertBus | None,
    ephemeral_secret: bool,
) -> WebState:
    secret = _secret(settings, ephemeral_secret)
    owns = context is None
    ctx = context or build_context(settings)
    bus = bus or AlertBus()
    outbox = Outbox(settings.alerts_out)
    outbound = OutboxDeliverer(ctx.db, outbox)
    metrics = VigilMetrics(supervisor.statuses if supervisor is not None else list)
    # the alert list's pages, dropped by every alert event: subscribed here, before any live
    # feed, so a dashboard that refetches on an event never gets the page the event outdated
    pages = AlertPageCache()
    credentials: CredentialCache[Any] = CredentialCache(settings.server.credential_cache_seconds)
    state = WebState(
        settings=settings,
        context=ctx,
        supervisor=supervisor,
        bus=bus,
        sessions=SessionService(
            ctx.db, secret, settings.server.session_hours * 3600.0, credentials
        ),
        users=UserService(ctx.db, settings.server, credentials),
        principals=credentials,
        reviews=ReviewService(ctx.db, bus, outbox=outbox),
        alerts=AlertQueries(ctx.db, ctx.cipher, pages=pages),
        outbound=outbound,
        metrics=metrics,
        throttle=LoginThrottle(ctx.db),
        # its buffer leaves the root logger on close, or with the app if it is never closed
        logs=LogService.installed(ctx.db, settings.server),
        owns_context=owns,
    )
    state._cleanup.append(state.logs.close)
    state._cleanup.append(bus.subscribe(metrics.on_alert))
    state._cleanup.append(bus.subscribe(pages.on_event))
    if supervisor is not None:
        supervisor.set_preview_blur(load_preview_blur(ctx.db))
    return state


def create_app(
    settings: Settings,
    *,
    context: AppContext | None = None,
    supervisor: CameraEngine | None = None,
    bus: AlertBus | None = None,
    ephemeral_secret: bool = False,
) -> FastAPI:
    """Build the web application.

    ``context`` defaults to ``build_context(settings)`` (closed on shutdown); without a
    ``supervisor`` the cameras can be managed but not started (503). ``ephemeral_secret=True``
    (tests only) generates a throw-away session key when ``server.secret_key`` is unset;
    otherwise a missing key is a ConfigError telling to run ``vigil init``.
    """
    state = _build_state(settings, context, supervisor, bus, ephemeral_secret)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.outbound.start()  # also delivers what a stopped or killed process left pending
        yield
        state.close()

    app = FastAPI(
        title="Vigil command center API",
        version=_version(),
        docs_url=None,  # served by vigil.web.api.docs, behind login
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.vigil = state
    errors.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        json_limit=JSON_BODY_LIMIT,
        upload_limit=settings.max_image_bytes * MAX_PHOTOS_PER_UPLOAD + 100_000,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.server.secure_cookies)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from vigil.web import pages, public_routes, report_routes, ws
    from vigil.web.api import api_router
    from vigil.web.api.metrics import router as metrics_router

    app.include_router(api_router())
    app.include_router(metrics_router)
    app.include_router(report_routes.router)
    app.include_router(public_routes.router)
    app.include_router(ws.router)
    app.include_router(pages.router)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vigil")
    except PackageNotFoundError:
        return "0+unknown"
