"""Quality gate: size, sharpness and pose on a real face and on controlled detections."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import QualityConfig
from vigil.faces.geometry import face_size_px
from vigil.faces.quality import QualityGate, laplacian_variance, yaw_ratio
from vigil.types import BBox, Detection

# A frontal face in obama.jpg (YuNet's box and landmarks, rounded).
BOX = BBox(374.0, 94.0, 606.0, 416.0)
FRONTAL = np.array([[443, 207], [550, 210], [501, 271], [445, 317], [544, 319]], np.float32)


@pytest.fixture(scope="module")
def obama(photos: Path) -> np.ndarray:
    image = cv2.imread(str(photos / "obama.jpg"))
    assert image is not None
    return image


def _scaled(box: BBox, landmarks: np.ndarray, f: float) -> Detection:
    return Detection(
        BBox(box.x1 * f, box.y1 * f, box.x2 * f, box.y2 * f),
        (landmarks * f).astype(np.float32),
        0.9,
    )


def test_frontal_sharp_face_passes(obama: np.ndarray) -> None:
    gate = QualityGate(QualityConfig())
    quality = gate.score(obama, Detection(BOX, FRONTAL, 0.9))
    assert quality.reason is None
    assert quality.size == 1.0 and quality.sharpness == 1.0
    assert quality.pose > 0.85
    assert gate.passes(quality)


@pytest.mark.parametrize(
    ("scale", "blur_sigma", "nose_shift", "reason"),
    [
        (0.12, 0.0, 0.0, "too_small"),  # 28 px face
        (0.5, 0.0, 0.0, None),  # 116 px face
        (1.0, 12.0, 0.0, "too_blurred"),
        (1.0, 1.0, 0.0, None),
        (1.0, 0.0, 45.0, "bad_pose"),  # nose almost in line with the right eye
        (1.0, 0.0, -45.0, "bad_pose"),
        (1.0, 0.0, 15.0, None),
    ],
)
def test_gate_reasons(
    obama: np.ndarray, scale: float, blur_sigma: float, nose_shift: float, reason: str | None
) -> None:
    image = obama
    if blur_sigma:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    landmarks = FRONTAL.copy()
    landmarks[2, 0] += nose_shift
    quality = QualityGate(QualityConfig()).score(image, _scaled(BOX, landmarks, scale))
    assert quality.reason == reason
    assert 0.0 <= quality.score <= 1.0
    for part in (quality.size, quality.sharpness, quality.pose):
        assert 0.0 <= part <= 1.0


def test_score_orders_sharp_above_blurred(obama: np.ndarray) -> None:
    gate = QualityGate(QualityConfig())
    detection = Detection(BOX, FRONTAL, 0.9)
    sharp = gate.score(obama, detection)
    soft = gate.score(cv2.GaussianBlur(obama, (0, 0), 6.0), detection)
    assert soft.sharpness < sharp.sharpness and soft.score < sharp.score


def test_min_score_can_refuse_a_shot_without_a_reason(obama: np.ndarray) -> None:
    gate = QualityGate(QualityConfig(min_score=0.99))
    landmarks = FRONTAL.copy()
    landmarks[2, 0] += 15.0
    quality = gate.score(obama, Detection(BOX, landmarks, 0.9))
    assert quality.reason is None and not gate.passes(quality)


def test_yaw_ratio_geometry() -> None:
    eyes = [[0.0, 0.0], [10.0, 0.0]]
    assert yaw_ratio(np.array([*eyes, [5.0, 5.0], [0, 9], [9, 9]])) == pytest.approx(0.0)
    assert yaw_ratio(np.array([*eyes, [10.0, 5.0], [0, 9], [9, 9]])) == pytest.approx(1.0)
    assert yaw_ratio(np.array([*eyes, [2.5, 5.0], [0, 9], [9, 9]])) == pytest.approx(0.5)


def test_box_outside_the_image_has_no_sharpness() -> None:
    image = np.zeros((50, 50, 3), np.uint8)
    assert laplacian_variance(image, Detection(BBox(60, 60, 90, 90), FRONTAL, 0.5)) == 0.0


def _eyes_apart(eye_distance: float, box_side: float) -> Detection:
    """A frontal face whose eye centres are ``eye_distance`` apart, in a box of ``box_side``."""
    d = eye_distance
    landmarks = np.array(
        [[-d / 2, 0], [d / 2, 0], [0, 0.55 * d], [-0.4 * d, 1.15 * d], [0.4 * d, 1.15 * d]],
        np.float32,
    ) + np.array([100, 100], np.float32)
    half = box_side / 2
    return Detection(BBox(100 - half, 90 - half, 100 + half, 90 + half), landmarks, 0.9)


# (eye distance, box side, min_face_px, reason): the size is 2.5 x the eye distance, whatever the
# box: a tight YuNet-like box and a loose dlib-like one decide alike.
SIZE_TABLE = [
    (14.0, 30.0, 36, "too_small"),  # 35 px
    (14.0, 40.0, 36, "too_small"),  # a loose box does not make it bigger
    (14.6, 30.0, 36, None),  # 36.5 px: a tight box does not make it smaller
    (14.6, 40.0, 36, None),
    (20.0, 48.0, 50, None),
    (19.9, 60.0, 50, "too_small"),
]


@pytest.mark.parametrize(("eye_distance", "box_side", "min_px", "reason"), SIZE_TABLE)
def test_size_is_measured_from_the_eyes_not_the_box(
    eye_distance: float, box_side: float, min_px: int, reason: str | None
) -> None:
    image = np.random.default_rng(3).integers(0, 255, (220, 220, 3), dtype=np.uint8)
    gate = QualityGate(QualityConfig(min_face_px=min_px, min_sharpness=0.0))
    detection = _eyes_apart(eye_distance, box_side)
    assert face_size_px(detection.landmarks) == pytest.approx(2.5 * eye_distance)
    quality = gate.score(image, detection)
    assert quality.reason == reason
    assert quality.size == pytest.approx(min(1.0, 2.5 * eye_distance / (2 * min_px)), abs=1e-4)
