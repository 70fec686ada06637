"""The video operating point: minimum face size in force, set from an open-set run, audited,
and used by the camera pipeline's quality gate."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from vigil.accountability.calibrate import apply_video_point
from vigil.accountability.threshold import (
    configured_min_face,
    current_min_face,
    min_face_in_force,
    threshold_in_force,
)
from vigil.config import Settings
from vigil.context import AppContext
from vigil.db.models import AuditEvent, Setting
from vigil.db.session import Database
from vigil.errors import ConfigError, InputError
from vigil.evaluation.openset import OperatingRow, VideoPoint
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.runtime.runner import build_camera_pipeline
from vigil.services.gallery import ActiveGallery
from vigil.timeutil import utcnow
from vigil.types import AlignedFace, Detection, Embedding, Frame


def _point(threshold: float, min_face: int, pack: str = "dlib") -> VideoPoint:
    row = OperatingRow(f"cctv{min_face}", 100, 0.001, threshold, 0.2, 0.0008, 100, 300, 3, 1)
    return VideoPoint(pack, threshold, min_face, 0.001, 100, 0.5, (row,))


@pytest.mark.parametrize("pack", ["dlib", "onnx"])
def test_without_calibration_the_configured_min_face_is_in_force(
    db: Database, settings: Settings, pack: str
) -> None:
    with db.read() as s:
        found = current_min_face(s, settings, pack)
    assert (found.source, found.changed_at) == ("config", None)
    assert found.min_face_px == getattr(settings, pack).video_min_face_px


def test_a_stored_point_is_in_force_and_each_change_audited(
    db: Database, settings: Settings
) -> None:
    first = apply_video_point(db, _point(0.93, 48), actor="tester")
    second = apply_video_point(db, _point(0.94, 32), actor="tester")
    assert (first.previous, first.previous_min_face) == (None, None)
    assert (second.previous, second.previous_min_face) == (0.93, 48)
    with db.read() as s:
        assert threshold_in_force(s, settings, "dlib") == 0.94
        assert min_face_in_force(s, settings, "dlib") == 32
        assert min_face_in_force(s, settings, "onnx") == settings.onnx.video_min_face_px
        assert current_min_face(s, settings, "dlib").source == "calibrated"
        assert "CCTV-like" in s.get(Setting, "threshold.dlib.calibration").value
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "threshold.change")).all()
    assert [
        (e.details["old"], e.details["new"], e.details["old_min_face_px"], e.details["min_face_px"])
        for e in events
    ] == [(None, 0.93, None, 48), (0.93, 0.94, 48, 32)]
    assert events[0].details["measured_fpr"] == 0.0008


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (_point(1.5, 32), "outside \\[-1, 1\\]"),
        (_point(0.9, 4), "outside 8..1000"),
        (VideoPoint("dlib", 0.9, 32, 0.001, 100, 0.5, ()), "no reporting-half figures"),
    ],
)
def test_a_bad_point_is_refused_and_nothing_stored(
    db: Database, point: VideoPoint, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        apply_video_point(db, point, actor="tester")
    with db.read() as s:
        assert s.scalar(select(Setting)) is None


@pytest.mark.parametrize("stored", ["abc", "4", "2000", "3.5"])
def test_a_broken_stored_min_face_is_a_config_error(
    db: Database, settings: Settings, stored: str
) -> None:
    with db.write() as s:
        s.add(Setting(key="min_face.dlib", value=stored))
    with db.read() as s, pytest.raises(ConfigError, match="minimum face size"):
        current_min_face(s, settings, "dlib")


def test_an_unknown_pack_has_no_min_face(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown pack 'sphereface'"):
        configured_min_face(settings, "sphereface")


class _NoFaces(FaceDetector):
    def detect(self, image: np.ndarray) -> list[Detection]:
        return []


class _Unused(FaceEmbedder):
    dim = 128

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        raise AssertionError("not called")

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        raise AssertionError("not called")


def test_the_camera_gate_uses_the_min_face_in_force(context: AppContext) -> None:
    pack = ModelPack("dlib", _NoFaces(), _Unused())
    gallery = ActiveGallery(context.db, context.cipher, context.settings, "dlib")
    before = build_camera_pipeline(context, "cam", pack, gallery, None)
    assert before.gate.config.min_face_px == context.settings.dlib.video_min_face_px
    apply_video_point(context.db, _point(0.93, 57), actor="tester")
    after = build_camera_pipeline(context, "cam", pack, gallery, None)
    assert after.gate.config.min_face_px == 57
    assert after.gate.config.min_sharpness == context.settings.quality.min_sharpness


def test_a_running_camera_gate_takes_the_gallery_s_minimum_each_frame(
    context: AppContext,
) -> None:
    pack = ModelPack("dlib", _NoFaces(), _Unused())
    gallery = ActiveGallery(context.db, context.cipher, context.settings, "dlib")
    pipeline = build_camera_pipeline(context, "cam", pack, gallery, None)
    image = np.zeros((48, 64, 3), np.uint8)
    pipeline.process(Frame("cam", 0, utcnow(), 0.0, image))
    assert pipeline.gate.min_face_px == context.settings.dlib.video_min_face_px == 48
    apply_video_point(context.db, _point(0.93, 57), actor="tester")  # while the camera runs
    gallery.sync()
    pipeline.process(Frame("cam", 1, utcnow(), 0.2, image))
    assert pipeline.gate.min_face_px == 57
