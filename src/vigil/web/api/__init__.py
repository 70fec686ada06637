"""The REST API under ``/api``: one module per resource, thin routes over the services.

Every route declares its roles with an ``Annotated`` alias from :mod:`vigil.web.deps`
(``Reviewer``, ``Manager``, ``AdminUser`` ...) and receives its service the same way; only
``GET /api/health`` and ``POST /api/auth/login`` are open to anonymous callers.
"""

from __future__ import annotations

from fastapi import APIRouter


def api_router() -> APIRouter:
    from vigil.web.api import (
        admin,
        alerts,
        auth,
        authorizations,
        cameras,
        docs,
        egress,
        logs,
        users,
        watchlists,
    )
    from vigil.web.schemas import COMMON_ERRORS, error_responses

    router = APIRouter(prefix="/api", responses=error_responses(*COMMON_ERRORS))
    for module in (
        auth,
        users,
        authorizations,
        watchlists,
        cameras,
        alerts,
        admin,
        egress,
        logs,
        docs,
    ):
        router.include_router(module.router)
    return router
