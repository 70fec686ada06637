"""Alerts for reviewers (operators, supervisors, admins) and the two-person review.

Every answer is the one public shape of an alert, :class:`~vigil.domain.events.AlertPublic`; the
review service announces each review on the live feed itself (whoever calls it).

The list is served as the JSON bytes its service keeps per page (see
:mod:`vigil.services.alert_cache`), with an ETag: a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` while the page is unchanged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertPublic
from vigil.services.alert_cache import PageQuery
from vigil.web.deps import Alerts, Reviewer, Reviews, SightingReviews
from vigil.web.schemas import (
    MAX_ID,
    AwaitingCount,
    EntityId,
    ReviewCreate,
    SightingRejectCreate,
    error_responses,
)

router = APIRouter(tags=["alerts"], responses=error_responses(503))
NO_STORE = {"Cache-Control": "no-store"}

StatusFilter = Annotated[
    AlertStatus | None, Query(description="candidate, pending_second, confirmed, rejected")
]
CameraFilter = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=500)]
BeforeId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="paging: alerts older than this id")
]


IfNoneMatch = Annotated[
    str | None,
    Header(max_length=1024, description="the ETag of the page you hold: 304 while it is current"),
]


@router.get(
    "/alerts",
    response_model=list[AlertPublic],
    summary="Alerts, newest first",
    responses={304: {"description": "the page named by If-None-Match is unchanged"}},
)
async def list_alerts(
    alerts: Alerts,
    user: Reviewer,
    status: StatusFilter = None,
    camera: CameraFilter = None,
    limit: Limit = 50,
    before_id: BeforeId = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    query = PageQuery(
        role=user.role.value, status=status, camera=camera, limit=limit, before_id=before_id
    )
    # a kept page is answered on the event loop; building one reads the database in the pool
    page = alerts.cached_page(query)
    if page is None:
        page = await run_in_threadpool(alerts.page, query)
    if page.matches(if_none_match):
        return Response(status_code=304, headers={"ETag": page.etag})
    return Response(page.body, media_type="application/json", headers={"ETag": page.etag})


@router.get(
    "/alerts/awaiting",
    response_model=AwaitingCount,
    summary="How many alerts await MY review (candidates, and second confirmations I may give)",
)
def awaiting_my_review(alerts: Alerts, user: Reviewer) -> AwaitingCount:
    return AwaitingCount(count=alerts.awaiting(user.username))


@router.get("/alerts/{alert_id}", response_model=AlertPublic, summary="One alert with its reviews")
def get_alert(alert_id: EntityId, alerts: Alerts, _u: Reviewer) -> AlertPublic:
    return alerts.get(alert_id)


@router.get(
    "/alerts/{alert_id}/crop",
    response_class=Response,
    summary="The probe face crop, bystanders masked (JPEG; viewing is audited)",
)
def alert_crop(alert_id: EntityId, alerts: Alerts, user: Reviewer) -> Response:
    data = alerts.crop(alert_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.get(
    "/alerts/{alert_id}/sightings/{sighting_id}/crop",
    response_class=Response,
    summary="One sighting's probe face crop, bystanders masked (JPEG; viewing is audited)",
)
def sighting_crop(
    alert_id: EntityId, sighting_id: EntityId, alerts: Alerts, user: Reviewer
) -> Response:
    data = alerts.sighting_crop(alert_id, sighting_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.get(
    "/alerts/{alert_id}/enrolled-photo",
    response_class=Response,
    summary="The enrolled photo that matched (JPEG; viewing is audited)",
)
def alert_enrolled_photo(alert_id: EntityId, alerts: Alerts, user: Reviewer) -> Response:
    data = alerts.enrolled_photo(alert_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.post(
    "/alerts/{alert_id}/reviews",
    response_model=AlertPublic,
    summary="Confirm or reject (two different users must confirm; a rejection needs a reason)",
    responses={
        403: {"description": "a one-time password, or a token its owner did not create"},
        409: {"description": "already decided, or not a second independent person"},
    },
)
def review_alert(
    alert_id: EntityId, body: ReviewCreate, reviews: Reviews, user: Reviewer
) -> AlertPublic:
    return reviews.review(
        alert_id, user.username, body.decision, body.reason, credential=user.credential
    )


Ordinal = Annotated[int, Path(ge=1, le=10_000, description="the sighting's ordinal in the alert")]


@router.post(
    "/alerts/{alert_id}/sightings/{ordinal}/reject",
    response_model=AlertPublic,
    summary="Mark one sighting 'not this person' (a reason is required; kept as a false "
    "sighting; resets pending confirmations)",
    responses={
        403: {"description": "a one-time password, or a token its owner did not create"},
        404: {"description": "no such alert or sighting"},
        409: {"description": "alert decided, sighting already rejected, or its last face"},
    },
)
def reject_sighting(
    alert_id: EntityId,
    ordinal: Ordinal,
    body: SightingRejectCreate,
    sightings: SightingReviews,
    user: Reviewer,
) -> AlertPublic:
    return sightings.reject(
        alert_id, ordinal, user.username, body.reason, credential=user.credential
    )
