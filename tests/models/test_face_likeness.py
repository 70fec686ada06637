"""Face-likeness check (enrollment): geometry, the second opinion and the stricter score, with
fake detectors at the seam. The real packs on real non-faces are in
tests/services/test_enrollment_humans.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from vigil.models.alignment import ARCFACE_TEMPLATE
from vigil.models.base import FaceDetector
from vigil.models.likeness import (
    FaceLikenessCheck,
    SecondOpinion,
    eye_per_box,
    landmark_residual,
)
from vigil.types import BBox, Detection


def _face(score: float = 0.9, *, nose_shift: float = 0.0, box_scale: float = 1.0) -> Detection:
    """The ArcFace template at 2x in a 224x224 box at (100, 50); nose moved by ``nose_shift``
    eye distances; the box widened by ``box_scale`` about its centre."""
    landmarks = ARCFACE_TEMPLATE * 2.0 + np.array([100.0, 50.0], np.float32)
    eye_distance = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    landmarks[2, 1] += nose_shift * eye_distance
    half = 112.0 * box_scale
    box = BBox(212.0 - half, 162.0 - half, 212.0 + half, 162.0 + half)
    return Detection(box, landmarks.astype(np.float32), score)


IMAGE = np.full((400, 400, 3), 120, np.uint8)


class _FakeDetector(FaceDetector):
    """Finds the faces it is given, in crop coordinates from the crop it sees (see ``where``)."""

    def __init__(self, fast: str, thorough: str = "none") -> None:
        self.fast, self.thorough = fast, thorough
        self.calls: list[str] = []

    @staticmethod
    def _found(where: str, image: np.ndarray) -> list[Detection]:
        side = image.shape[0]
        centre = {"here": side / 2, "elsewhere": side * 0.1}.get(where)
        if centre is None:
            return []
        box = BBox(centre - 30, centre - 30, centre + 30, centre + 30)
        return [Detection(box, np.zeros((5, 2), np.float32), 1.0)]

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls.append("detect")
        return self._found(self.fast, image)

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        self.calls.append("thorough")
        return self._found(self.thorough, image)


def test_geometry_of_a_template_face() -> None:
    face = _face()
    assert landmark_residual(face.landmarks) == pytest.approx(0.0, abs=1e-4)
    assert eye_per_box(face) == pytest.approx(70.47 / 224, abs=0.01)


def test_landmarks_all_in_one_place_are_not_a_face() -> None:
    collapsed = Detection(BBox(0, 0, 50, 50), np.full((5, 2), 20.0, np.float32), 0.99)
    assert landmark_residual(collapsed.landmarks) == float("inf")
    verdict = FaceLikenessCheck(None, None).judge(IMAGE, collapsed)
    assert verdict.problem is not None and "laid out" in verdict.problem


@pytest.mark.parametrize(
    ("fast", "thorough", "agrees", "calls"),
    [
        ("here", "none", True, ["detect"]),
        ("none", "here", True, ["detect", "thorough"]),
        ("elsewhere", "none", False, ["detect", "thorough"]),
        ("none", "elsewhere", False, ["detect", "thorough"]),
        ("none", "none", False, ["detect", "thorough"]),
    ],
)
def test_second_opinion_looks_where_the_face_is(
    fast: str, thorough: str, agrees: bool, calls: list[str]
) -> None:
    detector = _FakeDetector(fast, thorough)
    assert SecondOpinion(lambda: detector).agrees(IMAGE, _face()) is agrees
    assert detector.calls == calls


def test_second_opinion_loads_its_detector_once_on_first_use() -> None:
    loads: list[int] = []

    def load() -> FaceDetector:
        loads.append(1)
        return _FakeDetector("here")

    opinion = SecondOpinion(load)
    assert loads == []
    assert opinion.agrees(IMAGE, _face()) and opinion.agrees(IMAGE, _face())
    assert loads == [1]


# (second detector, its finding, min score, detection: score / nose shift / box scale, problem)
CASES = [
    ("yes", "here", 0.85, (0.95, 0.0, 1.0), None),
    ("yes", "here", 0.85, (0.77, 0.0, 1.0), "face score 0.77 is below 0.85"),  # confirmed, weak
    ("yes", "none", 0.85, (0.95, 0.0, 1.0), "second face detector finds no face"),  # strong alone
    ("yes", "none", 0.85, (0.77, 0.0, 1.0), "finds no face there and its face score 0.77"),  # dogs
    ("yes", "none", None, (2.00, 0.0, 1.0), "second face detector finds no face"),  # dlib pack
    ("yes", "elsewhere", None, (2.00, 0.0, 1.0), "second face detector finds no face"),
    ("yes", "here", None, (0.10, 0.0, 1.0), None),  # no enrollment score: confirmed is enough
    ("no", "-", 0.85, (0.77, 0.0, 1.0), "face score 0.77 is below 0.85"),
    ("no", "-", 0.85, (0.90, 0.0, 1.0), None),
    ("no", "-", None, (0.50, 0.0, 1.0), None),  # nothing but the geometry to go by
    ("yes", "here", 0.85, (0.95, 1.5, 1.0), "not laid out like a human face"),
    ("yes", "here", 0.85, (0.95, 0.0, 3.0), "too far apart or too close"),
    ("yes", "here", 0.85, (0.95, 0.0, 0.3), "too far apart or too close"),
]


@pytest.mark.parametrize(("second", "finding", "min_score", "face", "problem"), CASES)
def test_verdicts(
    second: str,
    finding: str,
    min_score: float | None,
    face: tuple[float, float, float],
    problem: str | None,
) -> None:
    opinion = SecondOpinion(lambda: _FakeDetector(finding)) if second == "yes" else None
    score, nose_shift, box_scale = face
    verdict = FaceLikenessCheck(opinion, min_score).judge(
        IMAGE, _face(score, nose_shift=nose_shift, box_scale=box_scale)
    )
    if problem is None:
        assert verdict.human and verdict.problem is None
    else:
        assert not verdict.human and problem in (verdict.problem or "")
    assert verdict.score == score
