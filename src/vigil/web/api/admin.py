"""Audit log (auditors, admins), runtime settings and the outbound configuration (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vigil.services.audit_log import AuditFilter
from vigil.web.deps import Admin, AdminUser, AnyRole, AuditReader
from vigil.web.schemas import (
    MAX_ID,
    AuditEventPublic,
    OutboundPublic,
    SettingsPublic,
    SettingsUpdate,
    UtcDatetime,
)

router = APIRouter(tags=["administration"])

ActionFilter = Annotated[
    str | None, Query(max_length=64, description="exact action or dotted prefix ('user')")
]
ActorFilter = Annotated[str | None, Query(max_length=128)]
Since = Annotated[UtcDatetime | None, Query(description="ISO 8601 (UTC if no offset)")]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/audit", response_model=list[AuditEventPublic], summary="Audit log, newest first")
def list_audit(
    admin: Admin,
    _u: AuditReader,
    action: ActionFilter = None,
    actor: ActorFilter = None,
    since: Since = None,
    until: Since = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> list[AuditEventPublic]:
    f = AuditFilter(
        action=action, actor=actor, since=since, until=until, before_id=before_id, limit=limit
    )
    return [
        AuditEventPublic.model_validate(e.event).model_copy(update={"subjects": dict(e.subjects)})
        for e in admin.audit(f)
    ]


@router.get(
    "/settings", response_model=SettingsPublic, summary="Runtime settings (any role may read)"
)
def get_settings(admin: Admin, _u: AnyRole) -> SettingsPublic:
    return SettingsPublic(preview_blur=admin.preview_blur())


@router.put("/settings", response_model=SettingsPublic, summary="Change runtime settings (audited)")
def put_settings(body: SettingsUpdate, admin: Admin, user: AdminUser) -> SettingsPublic:
    return SettingsPublic(
        preview_blur=admin.set_preview_blur(body.preview_blur, actor=user.username)
    )


@router.get("/outbound", response_model=OutboundPublic, summary="Where confirmed alerts are sent")
def outbound(admin: Admin, _u: AdminUser) -> OutboundPublic:
    return OutboundPublic.model_validate(admin.outbound())
