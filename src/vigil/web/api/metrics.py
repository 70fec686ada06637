"""Prometheus metrics on ``GET /metrics`` (open while server.metrics_public, else login/token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from vigil.web.deps import Metrics, ServerSettings, current_user

router = APIRouter(tags=["metrics"])


def metrics_access(request: Request, server: ServerSettings) -> None:
    """Open to scrapers while ``server.metrics_public`` (aggregate figures only, no identities);
    otherwise any logged-in user or API token."""
    if not server.metrics_public:
        current_user(request)


MetricsAccess = Annotated[None, Depends(metrics_access)]


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
def metrics(metrics: Metrics, _access: MetricsAccess) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
