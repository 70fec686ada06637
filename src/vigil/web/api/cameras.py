"""Cameras: add/edit/remove/test (supervisors, admins), start/stop, status and preview."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response

from vigil.config import CameraConfig
from vigil.db.models import Camera
from vigil.domain.enums import Role
from vigil.errors import NotFound
from vigil.services.cameras import CameraInput, to_config
from vigil.sources.capture import redact_url
from vigil.sources.probe import ConnectionTest, test_connection
from vigil.web.app import WebState
from vigil.web.deps import ALL_ROLES, MANAGERS, REVIEWERS, Principal, require_roles, web_state
from vigil.web.errors import ServiceUnavailable
from vigil.web.schemas import (
    CameraCreate,
    CameraPublic,
    CameraStatusPublic,
    CameraTestRequest,
    CameraUpdate,
    ConnectionTestPublic,
    EntityId,
)

if TYPE_CHECKING:
    from vigil.runtime.supervisor import Supervisor
    from vigil.sources.worker import CameraStatus

router = APIRouter(tags=["cameras"])
managers = require_roles(*MANAGERS)
readers = require_roles(*ALL_ROLES)
reviewers = require_roles(*REVIEWERS)


def _statuses(state: WebState) -> dict[str, CameraStatus]:
    return {st.camera: st for st in state.supervisor.statuses()} if state.supervisor else {}


def _public(camera: Camera, statuses: dict[str, CameraStatus]) -> CameraPublic:
    st = statuses.get(camera.name)
    status = None
    if st is not None:
        status = CameraStatusPublic(
            state=st.state.value,
            since=st.since,
            fps_in=st.fps_in,
            fps_analysed=st.fps_analysed,
            frames_in=st.frames_in,
            frames_analysed=st.frames_analysed,
            drops=st.drops,
            skipped_by_cap=st.skipped_by_cap,
            reconnects=st.reconnects,
            last_error=st.last_error,
            last_frame_at=st.last_frame_at,
        )
    return CameraPublic(
        id=camera.id,
        name=camera.name,
        url=redact_url(camera.url),
        max_fps=camera.max_fps,
        enabled=camera.enabled,
        running=st is not None and st.state.value != "stopped",
        status=status,
    )


def _supervisor(state: WebState) -> Supervisor:
    if state.supervisor is None:
        raise ServiceUnavailable(
            "the camera runtime is not running in this process",
            hint="start the command center with `vigil serve`",
        )
    return state.supervisor


def _is_running(state: WebState, name: str) -> bool:
    return name in _statuses(state)


@router.get("/cameras", response_model=list[CameraPublic], summary="Cameras with live status")
def list_cameras(request: Request, _u: Principal = Depends(readers)) -> list[CameraPublic]:
    state = web_state(request)
    statuses = _statuses(state)
    return [_public(c, statuses) for c in state.cameras.list()]


@router.get(
    "/cameras/{camera_id}", response_model=CameraPublic, summary="One camera with live status"
)
def get_camera(
    camera_id: EntityId, request: Request, _u: Principal = Depends(readers)
) -> CameraPublic:
    state = web_state(request)
    return _public(state.cameras.get(camera_id), _statuses(state))


@router.post("/cameras", response_model=CameraPublic, status_code=201, summary="Add a camera")
def add_camera(
    body: CameraCreate, request: Request, user: Principal = Depends(managers)
) -> CameraPublic:
    state = web_state(request)
    camera = state.cameras.add(
        CameraInput(body.name, body.url, body.max_fps, body.enabled), actor=user.username
    )
    return _public(camera, _statuses(state))


@router.patch(
    "/cameras/{camera_id}",
    response_model=CameraPublic,
    summary="Edit a camera (a running camera restarts with the new settings)",
)
def update_camera(
    camera_id: EntityId, body: CameraUpdate, request: Request, user: Principal = Depends(managers)
) -> CameraPublic:
    state = web_state(request)
    camera, before = state.cameras.update(
        camera_id, actor=user.username, **body.model_dump(exclude_none=True)
    )
    if state.supervisor is not None and _is_running(state, before.name):
        state.supervisor.stop_camera(before.name)
        if camera.enabled:
            state.supervisor.start_camera(to_config(camera))
    return _public(camera, _statuses(state))


@router.delete("/cameras/{camera_id}", status_code=204, summary="Remove a camera (stops it first)")
def remove_camera(
    camera_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> Response:
    state = web_state(request)
    camera = state.cameras.get(camera_id)
    if state.supervisor is not None and _is_running(state, camera.name):
        state.supervisor.stop_camera(camera.name)
    state.cameras.remove(camera_id, actor=user.username)
    return Response(status_code=204)


@router.post(
    "/cameras/test",
    response_model=ConnectionTestPublic,
    summary="Test a URL before saving it: open, read one frame, report (local files: admins only)",
)
def test_url(
    body: CameraTestRequest, request: Request, user: Principal = Depends(managers)
) -> ConnectionTestPublic:
    state = web_state(request)
    result = test_connection(
        body.url, state.settings.sources.open_timeout_seconds, allow_files=user.role is Role.admin
    )
    state.cameras.record_url_test(result.url, ok=result.ok, actor=user.username)
    return _public_test(result)


@router.post(
    "/cameras/{camera_id}/test",
    response_model=ConnectionTestPublic,
    summary="Open the camera's stream, read one frame, report (local files: admins only)",
)
def test_camera(
    camera_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> ConnectionTestPublic:
    state = web_state(request)
    camera = state.cameras.get(camera_id)
    result = test_connection(
        camera.url, state.settings.sources.open_timeout_seconds, allow_files=user.role is Role.admin
    )
    state.cameras.record(camera, "camera.test", actor=user.username, details={"ok": result.ok})
    return _public_test(result)


def _public_test(result: ConnectionTest) -> ConnectionTestPublic:
    return ConnectionTestPublic(
        ok=result.ok,
        url=result.url,
        kind=result.kind,
        message=result.message,
        width=result.width,
        height=result.height,
        seconds=result.seconds,
    )


@router.post(
    "/cameras/{camera_id}/start", response_model=CameraPublic, summary="Start analysing a camera"
)
def start_camera(
    camera_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> CameraPublic:
    state = web_state(request)
    camera = state.cameras.get(camera_id)
    config: CameraConfig = to_config(camera)
    _supervisor(state).start_camera(config)
    state.cameras.record(camera, "camera.start", actor=user.username)
    return _public(camera, _statuses(state))


@router.post(
    "/cameras/{camera_id}/stop", response_model=CameraPublic, summary="Stop analysing a camera"
)
def stop_camera(
    camera_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> CameraPublic:
    state = web_state(request)
    camera = state.cameras.get(camera_id)
    _supervisor(state).stop_camera(camera.name)
    state.cameras.record(camera, "camera.stop", actor=user.username)
    return _public(camera, _statuses(state))


@router.get(
    "/cameras/{camera_id}/preview",
    response_class=Response,
    summary="Latest analysed frame as JPEG (all faces blurred unless preview blur is off)",
)
def preview(camera_id: EntityId, request: Request, _u: Principal = Depends(reviewers)) -> Response:
    state = web_state(request)
    camera = state.cameras.get(camera_id)
    data = _supervisor(state).preview_jpeg(camera.name)
    if data is None:
        raise NotFound(
            f"camera {camera.name!r} has no analysed frame yet", hint="wait a moment and retry"
        )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
