"""Cameras: add/edit/remove/test (supervisors, admins), start/stop/restart (maintainers too),
status and preview.

Camera URLs pass the source policy (``vigil.services.camera_policy``): files only inside the
media folder, rtsp/http(s) only to allowed networks; a refused URL is a 400 naming the rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from vigil.services.camera_control import CameraChange, CameraView
from vigil.services.cameras import CameraInput
from vigil.sources.probe import ConnectionTest
from vigil.web.deps import AnyRole, CameraKeeper, Cameras, Manager, Reviewer
from vigil.web.schemas import (
    CameraCreate,
    CameraPublic,
    CameraStatusPublic,
    CameraTestRequest,
    CameraUpdate,
    ConnectionTestPublic,
    EntityId,
    error_responses,
)

router = APIRouter(tags=["cameras"], responses=error_responses(502, 503))


def _public(view: CameraView) -> CameraPublic:
    st = view.status
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
            analysis_error=st.analysis_error,
            last_frame_at=st.last_frame_at,
            node=st.node,
        )
    return CameraPublic(
        id=view.id,
        name=view.name,
        url=view.url,
        max_fps=view.max_fps,
        enabled=view.enabled,
        group=view.group,
        running=view.running,
        status=status,
    )


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


@router.get("/cameras", response_model=list[CameraPublic], summary="Cameras with live status")
def list_cameras(cameras: Cameras, _u: AnyRole) -> list[CameraPublic]:
    return [_public(v) for v in cameras.list()]


@router.get(
    "/cameras/{camera_id}", response_model=CameraPublic, summary="One camera with live status"
)
def get_camera(camera_id: EntityId, cameras: Cameras, _u: AnyRole) -> CameraPublic:
    return _public(cameras.get(camera_id))


@router.post("/cameras", response_model=CameraPublic, status_code=201, summary="Add a camera")
def add_camera(body: CameraCreate, cameras: Cameras, user: Manager) -> CameraPublic:
    data = CameraInput(body.name, body.url, body.max_fps, body.enabled, body.group)
    return _public(cameras.add(data, actor=user.username))


@router.patch(
    "/cameras/{camera_id}",
    response_model=CameraPublic,
    summary="Edit a camera (a running camera restarts with the new settings)",
)
def update_camera(
    camera_id: EntityId, body: CameraUpdate, cameras: Cameras, user: Manager
) -> CameraPublic:
    change = CameraChange(body.name, body.url, body.max_fps, body.enabled, body.group)
    return _public(cameras.update(camera_id, change, actor=user.username))


@router.delete("/cameras/{camera_id}", status_code=204, summary="Remove a camera (stops it first)")
def remove_camera(camera_id: EntityId, cameras: Cameras, user: Manager) -> Response:
    cameras.remove(camera_id, actor=user.username)
    return Response(status_code=204)


@router.post(
    "/cameras/test",
    response_model=ConnectionTestPublic,
    summary="Test a URL before saving it: open, read one frame, report (files: media folder only)",
)
def test_url(body: CameraTestRequest, cameras: Cameras, user: Manager) -> ConnectionTestPublic:
    result = cameras.test_url(body.url, actor=user.username)
    return _public_test(result)


@router.post(
    "/cameras/{camera_id}/test",
    response_model=ConnectionTestPublic,
    summary="Open the camera's stream, read one frame, report",
)
def test_camera(camera_id: EntityId, cameras: Cameras, user: Manager) -> ConnectionTestPublic:
    result = cameras.test(camera_id, actor=user.username)
    return _public_test(result)


@router.post(
    "/cameras/{camera_id}/start", response_model=CameraPublic, summary="Start analysing a camera"
)
def start_camera(camera_id: EntityId, cameras: Cameras, user: CameraKeeper) -> CameraPublic:
    return _public(cameras.start(camera_id, actor=user.username))


@router.post(
    "/cameras/{camera_id}/stop", response_model=CameraPublic, summary="Stop analysing a camera"
)
def stop_camera(camera_id: EntityId, cameras: Cameras, user: CameraKeeper) -> CameraPublic:
    return _public(cameras.stop(camera_id, actor=user.username))


@router.post(
    "/cameras/{camera_id}/restart",
    response_model=CameraPublic,
    summary="Restart a camera: stop it if running, start it again (maintainers too)",
)
def restart_camera(camera_id: EntityId, cameras: Cameras, user: CameraKeeper) -> CameraPublic:
    return _public(cameras.restart(camera_id, actor=user.username))


@router.get(
    "/cameras/{camera_id}/preview",
    response_class=Response,
    summary="Latest analysed frame as JPEG (blurred as a whole unless preview blur is off; "
    "each unblurred preview is audited)",
)
def preview(camera_id: EntityId, cameras: Cameras, user: Reviewer) -> Response:
    return Response(
        cameras.preview(camera_id, actor=user.username),
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store"},
    )
