"""The root fixtures (tests/root_fixtures.py): contexts on the test's home, closed after the test;
cameras on a file clip with a fake pack, stopped after the test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from root_fixtures import CameraFactory, ContextFactory
from vigil.accountability import audit
from vigil.config import Settings
from vigil.context import AppContext
from vigil.db.models import AuditEvent, CameraSession
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.types import AlignedFace, Detection, Embedding
from waiting import wait_for

FRAMES = 12


class NoFaces(FaceDetector):
    def detect(self, image: np.ndarray) -> list[Detection]:
        return []


class NeverCalled(FaceEmbedder):
    dim = 128

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        raise AssertionError("no face was detected, so nothing may be aligned")

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        raise AssertionError("no face was detected, so nothing may be embedded")


def fake_pack() -> ModelPack:
    return ModelPack("dlib", NoFaces(), NeverCalled())


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    """A short grey clip (no faces)."""
    path = tmp_path / "grey.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(FRAMES):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


def actions(context: AppContext) -> list[str]:
    with context.db.read() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_context_is_on_the_test_settings(context: AppContext, settings: Settings) -> None:
    assert context.settings is settings
    assert Path(context.key_path).is_file()


def test_a_second_context_on_the_same_home_sees_the_same_data(
    context: AppContext, make_context: ContextFactory, vigil_home: Path
) -> None:
    with context.db.write() as s:
        audit.record(s, actor="tester", action="test.first", target="t", details={})
    second = make_context(env={"VIGIL_MODEL_PACK": "onnx"})
    assert second.settings.home == vigil_home and second.settings.model_pack == "onnx"
    assert actions(second) == ["test.first"]


def test_make_context_takes_settings_or_environment_not_both(
    make_context: ContextFactory, settings: Settings
) -> None:
    with pytest.raises(TypeError, match="either settings or env"):
        make_context(settings, env={"VIGIL_MODEL_PACK": "onnx"})
    assert make_context.built == []


def test_the_factory_closes_every_context_it_opened(settings: Settings, vigil_home: Path) -> None:
    factory = ContextFactory(vigil_home)
    first, second = factory(settings), factory()
    closed: list[AppContext] = []
    for ctx in (first, second):
        ctx.close = lambda ctx=ctx: closed.append(ctx)  # type: ignore[method-assign]
    factory.close()
    assert closed == [second, first] and factory.built == []
    for ctx in (first, second):
        AppContext.close(ctx)  # the real close, for this test's own cleanup


def test_a_camera_with_a_fake_pack_plays_the_clip_and_records_a_session(
    context: AppContext, make_camera: CameraFactory, clip: Path
) -> None:
    camera = make_camera(context, clip, pack=fake_pack())
    wait_for(lambda: not camera.runner.running, "the clip to end")
    assert camera.runner.error is None and camera.events == []
    assert camera.runner.pipeline is not None and camera.runner.pipeline.frames > 0
    with context.db.read() as s:
        (session,) = s.scalars(select(CameraSession)).all()
    assert (session.camera, session.pack) == ("stage", "dlib")
    assert session.stopped_at is not None


def test_the_factory_stops_every_camera_it_started(context: AppContext, clip: Path) -> None:
    factory = CameraFactory()
    looping = factory(context, clip, loop=True, pack=fake_pack())
    idle = factory(context, clip, start=False, pack=fake_pack())
    assert looping.runner.running and not idle.runner.running
    factory.stop()
    assert not looping.runner.running and factory.cameras == []
    assert actions(context)[-1] == "camera.session_stop"
