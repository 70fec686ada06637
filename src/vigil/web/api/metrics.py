"""Prometheus metrics on ``GET /metrics``: login or API token needed, unless
``server.metrics_public``; anonymous scrapers then get the figures without camera names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from vigil.web.deps import Metrics, ServerSettings, current_user, optional_user

router = APIRouter(tags=["metrics"])


def metrics_access(request: Request, server: ServerSettings) -> bool:
    """Whether the caller may see camera names: any logged-in user or API token may; an
    anonymous scraper is refused (401) unless ``server.metrics_public``, and sees none."""
    if not server.metrics_public:
        current_user(request)
        return True
    return optional_user(request) is not None


MetricsAccess = Annotated[bool, Depends(metrics_access)]


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text format)",
    responses={401: {"description": "not logged in (unless server.metrics_public)"}},
)
def metrics(metrics: Metrics, named: MetricsAccess) -> Response:
    return Response(metrics.render(camera_names=named), media_type=CONTENT_TYPE_LATEST)
