"""A Ray camera actor's quality gate: the pack's *video* minimum face size, not the enrollment
one (``quality.min_face_px``), then the one the command center's gallery release carries.

The actor is built as Ray would build it (no Ray needed): the model pack is a fake whose
detector finds one face of a chosen size, and the capture loop is not started.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from vigil.config import CameraConfig, Settings
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.runtime import camera_actor
from vigil.runtime.camera_actor import CameraActor
from vigil.runtime.camera_loop import CameraLoop
from vigil.runtime.wire import ActorSpec, GalleryRelease, actor_settings
from vigil.sources.worker import AS_FAST_AS_ANALYSIS
from vigil.timeutil import utcnow
from vigil.types import AlignedFace, BBox, Detection, Embedding, Frame

ENROLLMENT_MIN, VIDEO_MIN = 36, 60  # different on purpose: which one the gate uses shows


def face_of(size: float) -> Detection:
    """A frontal face whose landmark face size (2.5 x the eye distance) is ``size`` px."""
    cx, cy, half = 160.0, 120.0, size / 5  # eyes 2 x size / 5 apart
    eyes = [[cx - half, cy], [cx + half, cy]]
    nose_mouth = [[cx, cy + half], [cx - half, cy + 2 * half], [cx + half, cy + 2 * half]]
    landmarks = np.array(eyes + nose_mouth, np.float32)
    return Detection(BBox(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), landmarks, 1)


class OneFace(FaceDetector):
    def __init__(self) -> None:
        self.size = 50.0

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [face_of(self.size)]


class NoEmbedder(FaceEmbedder):
    dim = 8

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        raise AssertionError("nothing may be embedded: the actor has no gallery entries")

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        raise AssertionError("nothing may be embedded: the actor has no gallery entries")


@pytest.fixture()
def actor(monkeypatch: pytest.MonkeyPatch) -> CameraActor:
    settings = Settings(
        quality={"min_face_px": ENROLLMENT_MIN}, dlib={"video_min_face_px": VIDEO_MIN}
    )
    pack = ModelPack("dlib", OneFace(), NoEmbedder())
    monkeypatch.setattr(camera_actor, "create_pack", lambda _settings: pack)
    monkeypatch.setattr(CameraLoop, "start", lambda self: None)  # no capture, no thread
    spec = ActorSpec(
        CameraConfig(name="gate", url="/nonexistent/clip.mp4"),
        actor_settings(settings),
        loop_files=False,
        playback=AS_FAST_AS_ANALYSIS,
        pending_limit=10,
    )
    return CameraActor(spec)


def frame(i: int) -> Frame:
    image = np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8)  # sharp
    return Frame("gate", i, utcnow() + timedelta(seconds=i / 5), float(i), image)


def reason(actor: CameraActor, size: float, i: int = 0) -> str | None:
    pipeline = actor._frame_loop.pipeline
    assert pipeline is not None
    pipeline.pack.detector.size = size  # type: ignore[attr-defined]
    pipeline.process(frame(i))  # the gate takes the gallery's minimum, if any, each frame
    return pipeline.gate.score(frame(i).image, face_of(size)).reason


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (50.0, "too_small"),  # above the enrollment minimum (36), below the video one (60)
        (35.0, "too_small"),
        (64.0, None),
    ],
)
def test_an_actor_gates_at_the_pack_s_video_minimum_face_size(
    actor: CameraActor, size: float, expected: str | None
) -> None:
    """Before: the actor's gate used quality.min_face_px (36), so a 50 px face passed."""
    assert reason(actor, size) == expected


@pytest.mark.parametrize(
    ("release_min", "size", "expected"),
    [
        (80, 64.0, "too_small"),  # the release raised it (a large gallery): 64 px now too small
        (80, 84.0, None),
        (40, 50.0, None),  # a calibrated, lower minimum in force in the command center
        (0, 50.0, "too_small"),  # a release without one: the pack's video minimum stays
    ],
)
def test_an_actor_s_gate_follows_the_minimum_of_the_gallery_release(
    actor: CameraActor, release_min: int, size: float, expected: str | None
) -> None:
    empty = NumpyIndex()
    empty.build(np.zeros((0, 8), np.float32))
    snapshot = GallerySnapshot((), empty, 0.95, "dlib", min_face_px=release_min)
    assert actor.set_gallery(GalleryRelease(1, snapshot, utcnow(), "cc")) == 1
    assert reason(actor, size) == expected
