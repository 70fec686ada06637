"""``GET /api/egress``: what this deployment may reach and what it reached (admins, auditors)."""

from __future__ import annotations

from fastapi import APIRouter

from vigil.web.deps import AuditReader, Egress
from vigil.web.schemas import EgressPublic

router = APIRouter(tags=["administration"])


@router.get("/egress", response_model=EgressPublic)
def egress(service: Egress, _u: AuditReader) -> EgressPublic:
    """Configured endpoints (cameras, sinks, database, Ray) and those reached: count, last time."""
    return EgressPublic.model_validate(service.report())
