"""A camera scans the whole frame every ``full_scan_every``-th analysed frame and only near its
tracks in between (vigil.pipeline.scanning), with a fake detector at the model seam.

The fake finds planted squares (faces) like tests/models/test_hog_regions.py does, and records
each call: a whole-frame ``detect`` or a ``detect_near`` with the boxes it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from vigil.config import TrackingConfig
from vigil.models.base import DetectorPool, FaceDetector, FaceEmbedder, ModelPack
from vigil.models.hog_regions import ScoredBox, detect_near
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.matcher import GallerySnapshot, Matcher, create_index
from vigil.pipeline.pipeline import CameraPipeline, build_pipeline
from vigil.pipeline.scanning import ScanCadence
from vigil.types import AlignedFace, BBox, Detection, Embedding, Frame, Quality

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FPS = 5.0
W, H = 640, 360


def squares(image: np.ndarray) -> list[ScoredBox]:
    mask = (image[:, :, 0] == 255).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return [
        ScoredBox(BBox(float(x), float(y), float(x + w), float(y + h)), 0.9)
        for x, y, w, h, _ in stats[1:count]
    ]


def as_detection(hit: ScoredBox) -> Detection:
    return Detection(hit.box, np.zeros((5, 2), np.float32), hit.score)


class SquareDetector(FaceDetector):
    """Finds the planted squares; records ("full", ()) or ("near", boxes) per call."""

    thread_safe = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[BBox, ...]]] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls.append(("full", ()))
        return [as_detection(h) for h in squares(image)]

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        self.calls.append(("near", tuple(boxes)))
        return [as_detection(h) for h in detect_near(squares, image, boxes)]


class NoEmbedder(FaceEmbedder):
    dim = 4

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        return AlignedFace(np.zeros((4, 4, 3), np.uint8))

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        return [Embedding(np.array([0, 0, 0, 1], np.float32), "fake") for _ in faces]


class PassGate:
    def score(self, image: np.ndarray, detection: Detection) -> Quality:
        return Quality(0.9, 0.9, 0.9, 0.9, None)

    def passes(self, quality: Quality) -> bool:
        return True


class EmptyGallery:
    def snapshot(self) -> GallerySnapshot:
        index = create_index("numpy")
        index.build(np.zeros((0, 0), np.float32))
        return GallerySnapshot((), index, 0.9, "fake")


def camera(every: int | None, pack_every: int = 1) -> tuple[CameraPipeline, SquareDetector]:
    detector = SquareDetector()
    pack = ModelPack("fake", detector, NoEmbedder(), full_scan_every=pack_every)
    pipeline = build_pipeline(
        "cam1",
        pack,
        Matcher(EmptyGallery(), 3),
        TrackingConfig(),
        PassGate(),
        early_margin=None,
        counter=FaceCounter("cam1"),
        full_scan_every=every,
    )
    return pipeline, detector


def show(pipeline: CameraPipeline, index: int, *faces: BBox) -> list[BBox]:
    """Process frame ``index`` with ``faces`` planted; the boxes the camera detected."""
    image = np.zeros((H, W, 3), np.uint8)
    for b in faces:
        image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2), 0] = 255
    pipeline.process(Frame("cam1", index, T0 + timedelta(seconds=index / FPS), index, image))
    assert pipeline.latest is not None
    return [d.box for d in pipeline.latest.detections]


def face_at(x: float) -> BBox:
    return BBox(x, 100, x + 60, 160)


def test_whole_frame_every_third_analysed_frame_and_near_the_tracks_between() -> None:
    pipeline, detector = camera(3)
    for i in range(7):
        assert show(pipeline, i, face_at(100 + 5 * i)) == [face_at(100 + 5 * i)]
    kinds = [kind for kind, _ in detector.calls]
    assert kinds == ["full", "near", "near", "full", "near", "near", "full"]
    # each near scan was given the track's box from the frame before
    assert detector.calls[1][1] == (face_at(100),) and detector.calls[2][1] == (face_at(105),)
    assert (pipeline.scans.full_scans, pipeline.scans.near_scans) == (3, 4)


def test_without_tracks_every_frame_is_a_whole_frame_scan() -> None:
    pipeline, detector = camera(3)
    for i in range(4):
        assert show(pipeline, i) == []
    assert [kind for kind, _ in detector.calls] == ["full"] * 4


def test_a_new_face_away_from_the_tracks_is_found_at_the_next_whole_frame_scan() -> None:
    pipeline, detector = camera(3)
    tracked, newcomer = face_at(100), BBox(480, 220, 540, 280)
    assert show(pipeline, 0, tracked) == [tracked]  # full scan
    assert show(pipeline, 1, tracked, newcomer) == [tracked]  # near the track only
    assert show(pipeline, 2, tracked, newcomer) == [tracked]
    assert sorted(b.x1 for b in show(pipeline, 3, tracked, newcomer)) == [100, 480]  # full
    assert len(pipeline.tracker.live) == 2
    assert [kind for kind, _ in detector.calls] == ["full", "near", "near", "full"]


def test_the_cadence_restarts_after_a_scan_forced_by_having_no_tracks() -> None:
    pipeline, detector = camera(3)
    show(pipeline, 0)  # nobody: full
    show(pipeline, 1, face_at(100))  # nobody tracked yet: full, the face is found
    show(pipeline, 2, face_at(100))
    show(pipeline, 3, face_at(100))
    show(pipeline, 4, face_at(100))
    assert [kind for kind, _ in detector.calls] == ["full", "full", "near", "near", "full"]


def test_one_means_the_whole_frame_always_and_the_default_is_the_packs() -> None:
    always, detector = camera(1, pack_every=3)
    for i in range(3):
        show(always, i, face_at(100))
    assert [kind for kind, _ in detector.calls] == ["full"] * 3
    packs, _ = camera(None, pack_every=3)
    assert packs.scans.every == 3
    plain, _ = camera(None)  # a pack that scans no windows (ONNX) keeps the default 1
    assert plain.scans.every == 1


def test_a_cadence_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="full_scan_every"):
        ModelPack("fake", SquareDetector(), NoEmbedder(), full_scan_every=0)
    with pytest.raises(ValueError, match="every"):
        ScanCadence(0)


def test_a_detector_without_windows_scans_the_whole_frame_when_asked_near() -> None:
    """The ONNX pack's YuNet (and any detector that does not override detect_near)."""

    class WholeOnly(FaceDetector):
        calls = 0

        def detect(self, image: np.ndarray) -> list[Detection]:
            WholeOnly.calls += 1
            return [as_detection(h) for h in squares(image)]

    image = np.zeros((H, W, 3), np.uint8)
    image[100:160, 500:560, 0] = 255  # away from the box asked about: found all the same
    for detector in (WholeOnly(), DetectorPool([WholeOnly(), WholeOnly()])):
        pack = ModelPack("fake", detector, NoEmbedder())
        (found,) = pack.detect_near(image, [face_at(100)])
        assert found.box == BBox(500, 100, 560, 160)
    assert WholeOnly.calls == 2
