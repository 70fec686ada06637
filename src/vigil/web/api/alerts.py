"""Alerts for reviewers (operators, supervisors, admins) and the two-person review."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from vigil.domain.enums import AlertStatus
from vigil.services.alerts import AlertEvent
from vigil.services.reviews import AlertView
from vigil.web.deps import REVIEWERS, Principal, require_roles, web_state
from vigil.web.schemas import MAX_ID, AlertPublic, EntityId, ReviewCreate

router = APIRouter(tags=["alerts"])
reviewers = require_roles(*REVIEWERS)
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/alerts", response_model=list[AlertPublic], summary="Alerts, newest first")
def list_alerts(
    request: Request,
    status: AlertStatus | None = Query(
        None, description="candidate, pending_second, confirmed, rejected"
    ),
    camera: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(
        None, ge=1, le=MAX_ID, description="paging: alerts older than this id"
    ),
    _u: Principal = Depends(reviewers),
) -> list[AlertPublic]:
    views = web_state(request).alerts.list(
        status=status, camera=camera, limit=limit, before_id=before_id
    )
    return [AlertPublic.model_validate(v) for v in views]


@router.get("/alerts/{alert_id}", response_model=AlertPublic, summary="One alert with its reviews")
def get_alert(
    alert_id: EntityId, request: Request, _u: Principal = Depends(reviewers)
) -> AlertPublic:
    return AlertPublic.model_validate(web_state(request).alerts.get(alert_id))


@router.get(
    "/alerts/{alert_id}/crop",
    response_class=Response,
    summary="The probe face crop, bystanders masked (JPEG; viewing is audited)",
)
def alert_crop(
    alert_id: EntityId, request: Request, user: Principal = Depends(reviewers)
) -> Response:
    data = web_state(request).alerts.crop(alert_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.get(
    "/alerts/{alert_id}/enrolled-photo",
    response_class=Response,
    summary="The enrolled photo that matched (JPEG; viewing is audited)",
)
def alert_enrolled_photo(
    alert_id: EntityId, request: Request, user: Principal = Depends(reviewers)
) -> Response:
    data = web_state(request).alerts.enrolled_photo(alert_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


def _event(view: AlertView) -> AlertEvent:
    return AlertEvent(
        alert_id=view.id,
        kind="reviewed",
        status=view.status.value,
        camera=view.camera,
        subject_name=view.subject_name,
        watchlist=view.watchlist,
        authorization_reference=view.authorization_reference,
        score=view.score,
        first_seen=view.first_seen,
        last_seen=view.last_seen,
        captured_monotonic=0.0,
    )


@router.post(
    "/alerts/{alert_id}/reviews",
    response_model=AlertPublic,
    summary="Confirm or reject (two different users must confirm; a rejection needs a reason)",
    responses={409: {"description": "already decided, or you already confirmed it"}},
)
def review_alert(
    alert_id: EntityId, body: ReviewCreate, request: Request, user: Principal = Depends(reviewers)
) -> AlertPublic:
    state = web_state(request)
    state.reviews.review(alert_id, user.username, body.decision, body.reason)
    view = state.alerts.get(alert_id)
    state.bus.publish(_event(view))
    return AlertPublic.model_validate(view)
