"""Supervisor: starts/stops camera runners, reports their status, serves blurred previews."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.errors import Conflict, NotFound
from vigil.models.base import ModelPack
from vigil.runtime.supervisor import Supervisor
from vigil.services.alerts import AlertBus
from vigil.sources.worker import AS_FAST_AS_ANALYSIS, CameraState
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def test_supervisor_runs_a_camera_with_blurred_previews(
    lin_context: AppContext, hamilton_clip: Path
) -> None:
    supervisor = Supervisor(lin_context, AlertBus(), loop_files=True, playback=AS_FAST_AS_ANALYSIS)
    camera = CameraConfig(name="stage", url=str(hamilton_clip), max_fps=5)
    runner = supervisor.start_camera(camera)
    try:
        with pytest.raises(Conflict, match="already running"):
            supervisor.start_camera(camera)
        assert supervisor.preview_blur is True

        def faces_in_view() -> bool:
            latest = runner.pipeline.latest if runner.pipeline else None
            return latest is not None and len(latest.detections) >= 1

        # A preview of a frame with faces, taken while that frame was the latest one.
        shot: dict[str, object] = {}

        def stable_preview() -> bool:
            latest = runner.pipeline.latest if runner.pipeline else None
            if latest is None or not latest.detections:
                return False
            jpeg = supervisor.preview_jpeg("stage")
            if runner.pipeline.latest is not latest:
                return False
            shot.update(jpeg=jpeg, faces=latest.detections)
            return True

        wait_for(stable_preview, "a preview of a frame with faces")
        preview = shot["jpeg"]
        assert isinstance(preview, bytes) and preview[:2] == b"\xff\xd8"
        image = cv2.imdecode(np.frombuffer(preview, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (360, 640, 3)
        # None of the faces the camera found can be found again in its preview. (A face the
        # detector missed on the frame, near its score threshold, can't be blurred: not checked.)
        again = lin_context.pack.detect(image)
        assert not [d for d in again for f in shot["faces"] if d.box.iou(f.box) > 0.3]
        supervisor.set_preview_blur(False)
        wait_for(faces_in_view, "a frame with faces")
        raw = cv2.imdecode(
            np.frombuffer(supervisor.preview_jpeg("stage"), np.uint8), cv2.IMREAD_COLOR
        )
        assert raw.shape == (360, 640, 3)
        (status,) = supervisor.statuses()
        assert status.camera == "stage" and status.state in (
            CameraState.CONNECTED,
            CameraState.ENDED,
        )
        assert status.frames_in > 0
    finally:
        supervisor.stop_all()
    assert supervisor.statuses() == []
    with pytest.raises(NotFound):
        supervisor.stop_camera("stage")
    with pytest.raises(NotFound):
        supervisor.preview_jpeg("stage")


def test_a_camera_that_cannot_start_is_not_listed(
    lin_context: AppContext, hamilton_clip: Path
) -> None:
    from vigil.errors import ModelError

    def broken_pack() -> ModelPack:
        raise ModelError("config 'onnx.detector': no such file")

    supervisor = Supervisor(lin_context, AlertBus(), pack_factory=broken_pack)
    with pytest.raises(ModelError, match="no such file"):
        supervisor.start_camera(CameraConfig(name="stage", url=str(hamilton_clip)))
    assert supervisor.statuses() == []


def test_all_cameras_share_the_process_pack(lin_context: AppContext, hamilton_clip: Path) -> None:
    supervisor = Supervisor(lin_context, AlertBus(), playback=AS_FAST_AS_ANALYSIS)
    try:
        runners = [
            supervisor.start_camera(CameraConfig(name=name, url=str(hamilton_clip), max_fps=5))
            for name in ("left", "right")
        ]
        for runner in runners:
            runner.wait(120)
        packs = {id(runner.pipeline.pack) for runner in runners if runner.pipeline}
        assert packs == {id(lin_context.pack)}  # the one the web's enrollment validator uses
        assert all(runner.pipeline and runner.pipeline.frames > 0 for runner in runners)
        assert [r.error for r in runners] == [None, None]
    finally:
        supervisor.stop_all()
