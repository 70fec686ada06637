"""A camera's status shows what went wrong on its analysis side: a frame the pipeline could not
process, or the pack's own problem (a model worker process that died and was restarted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.context import AppContext
from vigil.errors import ModelError
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.types import AlignedFace, Detection, Embedding

RESTARTED = "model worker dlib-worker-1 stopped unexpectedly (exit code -9) and was restarted"


class Detector(FaceDetector):
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        if self.fail:
            raise ModelError("dlib-worker: the detector could not run")
        return []


class Unused(FaceEmbedder):
    dim = 128

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        raise AssertionError("no face, no alignment")

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        raise AssertionError("no face, no embedding")


class Pack(ModelPack):
    def __init__(self, fail: bool, problem: str | None) -> None:
        super().__init__("dlib", Detector(fail), Unused())
        self._problem = problem

    def problem(self) -> str | None:
        return self._problem


def _status_after_a_run(make_camera, context: AppContext, clip: Path, pack: Pack):
    camera = make_camera(context, clip, pack=pack)
    assert camera.runner.wait(300)
    assert pack.detector.calls > 0  # type: ignore[attr-defined]
    return camera.runner.status()


def test_a_healthy_pack_leaves_no_analysis_error(
    make_camera, context: AppContext, hamilton_clip: Path
) -> None:
    status = _status_after_a_run(make_camera, context, hamilton_clip, Pack(False, None))
    assert status.analysis_error is None


def test_a_restarted_model_worker_shows_in_the_camera_status(
    make_camera, context: AppContext, hamilton_clip: Path
) -> None:
    status = _status_after_a_run(make_camera, context, hamilton_clip, Pack(False, RESTARTED))
    assert status.analysis_error == RESTARTED


def test_a_failing_model_call_shows_in_the_camera_status(
    make_camera, context: AppContext, hamilton_clip: Path
) -> None:
    status = _status_after_a_run(make_camera, context, hamilton_clip, Pack(True, None))
    assert status.analysis_error == "dlib-worker: the detector could not run"
