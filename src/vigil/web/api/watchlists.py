"""Watchlists and subjects: create under an authorization, enroll photos, remove subjects."""

from __future__ import annotations

from pathlib import PurePath

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from vigil.db.models import Watchlist
from vigil.domain.enums import AuthorizationStatus, Role
from vigil.errors import Conflict, EnrollmentRejected, InputError
from vigil.repositories.watchlists import SubjectRepo, WatchlistRepo
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import ValidatedFace
from vigil.web.app import MAX_PHOTOS_PER_UPLOAD, WebState
from vigil.web.deps import MANAGERS, Principal, require_roles, web_state
from vigil.web.errors import UnsupportedMediaType, error_body
from vigil.web.schemas import (
    EnrollResult,
    EntityId,
    PhotoFeedback,
    SubjectPublic,
    SubjectRemoved,
    WatchlistCreate,
    WatchlistPublic,
)

router = APIRouter(tags=["watchlists"])
managers = require_roles(*MANAGERS)
readers = require_roles(*MANAGERS, Role.auditor)
NO_STORE = {"Cache-Control": "no-store"}


def multipart_manager(request: Request, user: Principal = Depends(managers)) -> Principal:
    """Managers only (checked first), and the request must be a multipart upload."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        sent = ctype.split(";")[0] or "no body type"
        raise UnsupportedMediaType(
            f"photos must be sent as multipart/form-data, not {sent!r}",
            hint="send the fields 'name' and 'photos' (one or more image files) as a form upload",
        )
    return user


def _service(state: WebState) -> WatchlistService:
    return WatchlistService(state.context.db, state.context.cipher)


@router.get(
    "/watchlists", response_model=list[WatchlistPublic], summary="List watchlists with sizes"
)
def list_watchlists(request: Request, _u: Principal = Depends(readers)) -> list[WatchlistPublic]:
    return [WatchlistPublic.model_validate(v) for v in _service(web_state(request)).list()]


@router.post(
    "/watchlists",
    response_model=WatchlistPublic,
    status_code=201,
    summary="Create a watchlist under an authorization",
)
def create_watchlist(
    body: WatchlistCreate, request: Request, user: Principal = Depends(managers)
) -> WatchlistPublic:
    service = _service(web_state(request))
    wl = service.create(body.name, body.authorization_reference, actor=user.username)
    return next(WatchlistPublic.model_validate(v) for v in service.list() if v.id == wl.id)


def _subjects(state: WebState, watchlist_id: EntityId) -> list[SubjectPublic]:
    with state.context.db.read() as s:
        WatchlistRepo(s).get_by_id(watchlist_id)
        return [
            SubjectPublic(
                id=x.id,
                watchlist_id=x.watchlist_id,
                name=x.name,
                templates=len(x.templates),
                created_at=x.created_at,
            )
            for x in SubjectRepo(s).list(watchlist_id)
        ]


@router.get(
    "/watchlists/{watchlist_id}/subjects",
    response_model=list[SubjectPublic],
    summary="Subjects of a watchlist",
)
def list_subjects(
    watchlist_id: EntityId, request: Request, _u: Principal = Depends(managers)
) -> list[SubjectPublic]:
    return _subjects(web_state(request), watchlist_id)


def _enrollable(state: WebState, watchlist_id: EntityId) -> Watchlist:
    """The watchlist, if its authorization is active and unexpired (else nobody may be added)."""
    with state.context.db.read() as s:
        wl = WatchlistRepo(s).get_by_id(watchlist_id)
        auth = wl.authorization
        if auth.status is not AuthorizationStatus.active or auth.expires_at <= utcnow():
            state_word = (
                auth.status.value if auth.status is not AuthorizationStatus.active else "expired"
            )
            raise Conflict(
                f"watchlist {wl.name!r} is under authorization {auth.reference!r}, "
                f"which is {state_word}",
                hint="enroll only under an active authorization",
            )
        return wl


def _read_photo(upload: UploadFile, max_bytes: int) -> tuple[str, bytes]:
    name = PurePath(upload.filename or "photo").name[:200] or "photo"
    ctype = (upload.content_type or "").lower()
    if not ctype.startswith("image/"):
        raise EnrollmentRejected(
            "not_an_image",
            f"it was sent as {ctype or 'no content type'!r}, not an image; "
            "upload a JPEG or PNG photo.",
            photo=name,
        )
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise EnrollmentRejected(
            "too_large",
            f"the file is larger than {max_bytes:,} bytes (max_image_bytes); "
            "upload a smaller photo.",
            photo=name,
        )
    return name, data


def _validate_all(
    state: WebState, photos: list[UploadFile]
) -> tuple[list[ValidatedFace], list[PhotoFeedback]]:
    faces: list[ValidatedFace] = []
    feedback: list[PhotoFeedback] = []
    for upload in photos:
        try:
            name, data = _read_photo(upload, state.settings.max_image_bytes)
            face = state.validate_photo(data, name)
        except EnrollmentRejected as exc:
            feedback.append(
                PhotoFeedback(
                    photo=exc.photo or upload.filename or "photo",
                    accepted=False,
                    reason=exc.reason,
                    message=str(exc),
                )
            )
            continue
        faces.append(face)
        feedback.append(
            PhotoFeedback(photo=name, accepted=True, quality=round(face.quality.score, 3))
        )
    return faces, feedback


@router.post(
    "/watchlists/{watchlist_id}/subjects",
    response_model=EnrollResult,
    status_code=201,
    summary="Enroll a subject from photos (multipart); each photo gets quality feedback",
    responses={422: {"description": "no photo could be enrolled; per-photo reasons in 'photos'"}},
)
def enroll_subject(
    watchlist_id: EntityId,
    request: Request,
    name: str = Form(..., min_length=1, max_length=256, description="the person's name"),
    photos: list[UploadFile] = File(
        ..., description=f"1-{MAX_PHOTOS_PER_UPLOAD} photos of the person"
    ),
    user: Principal = Depends(multipart_manager),
) -> EnrollResult | JSONResponse:
    state = web_state(request)
    if len(photos) > MAX_PHOTOS_PER_UPLOAD:
        raise InputError(
            f"{len(photos)} photos sent; at most {MAX_PHOTOS_PER_UPLOAD} per upload",
            hint="enroll the rest in a second upload",
        )
    wl = _enrollable(state, watchlist_id)
    faces, feedback = _validate_all(state, photos)
    if not faces:
        reasons = "; ".join(f.message or f.photo for f in feedback)
        body = error_body(
            422, f"no photo could be enrolled: {reasons}", photos=[f.model_dump() for f in feedback]
        )
        return JSONResponse(body, status_code=422)
    result = _service(state).enroll(wl.name, name, faces, actor=user.username)
    subject = next(x for x in _subjects(state, watchlist_id) if x.id == result.subject_id)
    return EnrollResult(
        subject=subject, accepted=len(faces), rejected=len(feedback) - len(faces), photos=feedback
    )


@router.delete(
    "/subjects/{subject_id}",
    response_model=SubjectRemoved,
    summary="Remove a subject with its templates and alerts",
)
def remove_subject(
    subject_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> SubjectRemoved:
    counts = _service(web_state(request)).remove_subject(subject_id, actor=user.username)
    return SubjectRemoved(**counts)


@router.get(
    "/subjects/{subject_id}/photo",
    response_class=Response,
    summary="The subject's enrolled face photo (JPEG, decrypted; viewing is audited)",
)
def subject_photo(
    subject_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> Response:
    data = web_state(request).alerts.subject_photo(subject_id, viewer=user.username)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)
