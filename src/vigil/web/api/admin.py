"""Audit log (auditors, admins), runtime settings and the outbound configuration (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from vigil.domain.enums import Role
from vigil.services.audit_log import AuditFilter, search_audit
from vigil.services.outbound import safe_destination
from vigil.services.settings_store import get_setting, set_setting
from vigil.web.app import PREVIEW_BLUR_KEY
from vigil.web.deps import ALL_ROLES, Principal, require_roles, web_state
from vigil.web.schemas import (
    MAX_ID,
    AuditEventPublic,
    OutboundPublic,
    SettingsPublic,
    SettingsUpdate,
    UtcDatetime,
)

router = APIRouter(tags=["administration"])
admin_only = require_roles(Role.admin)
audit_readers = require_roles(Role.auditor, Role.admin)
anyone = require_roles(*ALL_ROLES)


@router.get("/audit", response_model=list[AuditEventPublic], summary="Audit log, newest first")
def list_audit(
    request: Request,
    action: str | None = Query(
        None, max_length=64, description="exact action or dotted prefix ('user')"
    ),
    actor: str | None = Query(None, max_length=128),
    since: UtcDatetime | None = Query(None, description="ISO 8601 (UTC if no offset)"),
    until: UtcDatetime | None = Query(None, description="ISO 8601 (UTC if no offset)"),
    before_id: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
    _u: Principal = Depends(audit_readers),
) -> list[AuditEventPublic]:
    f = AuditFilter(
        action=action, actor=actor, since=since, until=until, before_id=before_id, limit=limit
    )
    return [
        AuditEventPublic.model_validate(e) for e in search_audit(web_state(request).context.db, f)
    ]


def _preview_blur(request: Request) -> bool:
    return get_setting(web_state(request).context.db, PREVIEW_BLUR_KEY, "on") != "off"


@router.get(
    "/settings", response_model=SettingsPublic, summary="Runtime settings (any role may read)"
)
def get_settings(request: Request, _u: Principal = Depends(anyone)) -> SettingsPublic:
    return SettingsPublic(preview_blur=_preview_blur(request))


@router.put("/settings", response_model=SettingsPublic, summary="Change runtime settings (audited)")
def put_settings(
    body: SettingsUpdate, request: Request, user: Principal = Depends(admin_only)
) -> SettingsPublic:
    state = web_state(request)
    set_setting(
        state.context.db,
        PREVIEW_BLUR_KEY,
        "on" if body.preview_blur else "off",
        actor=user.username,
    )
    if state.supervisor is not None:
        state.supervisor.set_preview_blur(body.preview_blur)
    return SettingsPublic(preview_blur=body.preview_blur)


@router.get("/outbound", response_model=OutboundPublic, summary="Where confirmed alerts are sent")
def outbound(request: Request, _u: Principal = Depends(admin_only)) -> OutboundPublic:
    cfg = web_state(request).settings.alerts_out
    return OutboundPublic(
        webhooks=[safe_destination(u) for u in cfg.webhooks],
        webhook_signed=cfg.webhook_secret is not None,
        mqtt_host=cfg.mqtt_host,
        mqtt_port=cfg.mqtt_port,
        mqtt_topic=cfg.mqtt_topic,
    )
