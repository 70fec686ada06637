"""Watchlists and subjects: create under an authorization, enroll photos, remove subjects."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from vigil.services.watchlist_desk import MAX_PHOTOS_PER_UPLOAD, PhotoUpload
from vigil.web.deps import Alerts, Manager, ManagerOrAuditor, Watchlists
from vigil.web.errors import UnsupportedMediaType
from vigil.web.schemas import (
    EnrollResult,
    EntityId,
    PhotoFeedback,
    SubjectPublic,
    SubjectRemoved,
    WatchlistCreate,
    WatchlistPublic,
    error_responses,
)

router = APIRouter(tags=["watchlists"], responses=error_responses(415))
NO_STORE = {"Cache-Control": "no-store"}


def multipart_manager(request: Request, user: Manager) -> None:
    """Managers only (checked first), and the request must be a multipart upload."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        sent = ctype.split(";")[0] or "no body type"
        raise UnsupportedMediaType(
            f"photos must be sent as multipart/form-data, not {sent!r}",
            hint="send the fields 'name' and 'photos' (one or more image files) as a form upload",
        )


Uploader = Annotated[None, Depends(multipart_manager)]
SubjectName = Annotated[str, Form(min_length=1, max_length=256, description="the person's name")]
Photos = Annotated[
    list[UploadFile], File(description=f"1-{MAX_PHOTOS_PER_UPLOAD} photos of the person")
]


@router.get(
    "/watchlists", response_model=list[WatchlistPublic], summary="List watchlists with sizes"
)
def list_watchlists(watchlists: Watchlists, _u: ManagerOrAuditor) -> list[WatchlistPublic]:
    return [WatchlistPublic.model_validate(v) for v in watchlists.list()]


@router.post(
    "/watchlists",
    response_model=WatchlistPublic,
    status_code=201,
    summary="Create a watchlist under an authorization",
)
def create_watchlist(
    body: WatchlistCreate, watchlists: Watchlists, user: Manager
) -> WatchlistPublic:
    view = watchlists.create(body.name, body.authorization_reference, actor=user.username)
    return WatchlistPublic.model_validate(view)


@router.get(
    "/watchlists/{watchlist_id}/subjects",
    response_model=list[SubjectPublic],
    summary="Subjects of a watchlist",
)
def list_subjects(
    watchlist_id: EntityId, watchlists: Watchlists, _u: Manager
) -> list[SubjectPublic]:
    return [SubjectPublic.model_validate(x) for x in watchlists.subjects(watchlist_id)]


def _upload(upload: UploadFile, max_bytes: int) -> PhotoUpload:
    name = PurePath(upload.filename or "photo").name[:200] or "photo"
    ctype = (upload.content_type or "").lower()
    data = upload.file.read(max_bytes + 1) if ctype.startswith("image/") else b""
    return PhotoUpload(name, ctype, data)


@router.post(
    "/watchlists/{watchlist_id}/subjects",
    response_model=EnrollResult,
    status_code=201,
    summary="Enroll a subject from photos (multipart); each photo gets quality feedback",
    responses={422: {"description": "no photo could be enrolled; per-photo reasons in 'photos'"}},
)
def enroll_subject(
    watchlist_id: EntityId,
    name: SubjectName,
    photos: Photos,
    watchlists: Watchlists,
    user: Manager,
    _multipart: Uploader,
) -> EnrollResult:
    uploads = [_upload(p, watchlists.max_image_bytes) for p in photos]
    done = watchlists.enroll(watchlist_id, name, uploads, actor=user.username)
    return EnrollResult(
        subject=SubjectPublic.model_validate(done.subject),
        accepted=done.accepted,
        rejected=done.rejected,
        photos=[PhotoFeedback.model_validate(p) for p in done.photos],
    )


@router.delete(
    "/subjects/{subject_id}",
    response_model=SubjectRemoved,
    summary="Remove a subject with its templates and alerts",
)
def remove_subject(subject_id: EntityId, watchlists: Watchlists, user: Manager) -> SubjectRemoved:
    return SubjectRemoved(**watchlists.remove_subject(subject_id, actor=user.username))


@router.get(
    "/subjects/{subject_id}/photo",
    response_class=Response,
    summary="The subject's enrolled face photo (JPEG, decrypted; viewing is audited)",
)
def subject_photo(subject_id: EntityId, alerts: Alerts, user: Manager) -> Response:
    data = alerts.subject_photo(subject_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)
