"""Is a detected "face" in an enrollment photo a human face? A check that does not rest on one
detector's score alone.

A detector trained on human faces can fire on an animal: YuNet gives close-up dogs a score of 0.77
and draws its five landmarks on them in a perfectly face-like layout (issue 12). The landmarks
come from the same network as the box, so their geometry cannot tell such a "face" apart; it only
catches broken detections (landmarks far off the ArcFace layout, or eyes too far apart or too close
for the box). What does tell it apart, measured on the shared photos and a sample of LFW (see
``scripts/bench_enrollment.py likeness`` and the README):

* a **second opinion**: the other pack's detector, run on a crop around the face (resized so the
  face is :data:`SECOND_OPINION_FACE_PX` wide), must find a face there too (its fast detector,
  then its slow still-photo one). The dlib pack asks YuNet where ``onnx.detector`` is set; the ONNX
  pack asks dlib's HOG (and CNN) detector, which is always installed;
* a **stricter score** for enrollment than for video (``onnx.enroll_score_threshold``), for the
  pack whose detector gives a calibrated score (YuNet).

A face is human-like when its geometry is plausible, the second detector (where installed) finds
it too, and its own score reaches the pack's enrollment score (where the pack has one). Each part
refuses close-up dogs on its own (tests/services/test_enrollment_humans.py); on 331 LFW photos
and the shared human photos no human face failed any part. Each refusal says which part failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.models.alignment import ARCFACE_TEMPLATE, similarity_transform
from vigil.models.base import FaceDetector
from vigil.types import BBox, Detection

# Geometry limits (in template eye distances / eye distance per box width). Human faces on the
# shared photos and the LFW tuning sample stay well inside them (largest residual 0.43, eye/box
# 0.23-0.56 over both packs); they refuse landmark sets no face has.
MAX_LANDMARK_RESIDUAL = 0.6
EYE_PER_BOX_RANGE = (0.15, 0.9)
# The second detector sees a square crop of CROP_CONTEXT x the face box, scaled so that the face is
# SECOND_OPINION_FACE_PX wide (dlib's HOG finds faces from about 80 px).
CROP_CONTEXT = 2.0
SECOND_OPINION_FACE_PX = 160
_TEMPLATE_EYE_DISTANCE = float(np.linalg.norm(ARCFACE_TEMPLATE[1] - ARCFACE_TEMPLATE[0]))


@dataclass(frozen=True, slots=True)
class Likeness:
    """The verdict on one detection; ``problem`` says what failed (None: a human face)."""

    landmark_residual: float  # largest landmark offset from the ArcFace layout, in eye distances
    eye_per_box: float  # eye distance / box width
    score: float  # the detector's own score
    second_opinion: bool | None  # did the other detector find it (None: none was asked)
    problem: str | None

    @property
    def human(self) -> bool:
        return self.problem is None


def landmark_residual(landmarks: np.ndarray) -> float:
    """Largest distance between a landmark and its place in the ArcFace template after the best
    similarity fit, in template eye distances (0 for a perfect layout)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    try:
        matrix = similarity_transform(lm, ARCFACE_TEMPLATE).astype(np.float64)
    except ValueError:  # all five points in one place: no layout at all
        return float("inf")
    mapped = lm @ matrix[:, :2].T + matrix[:, 2]
    offsets = np.linalg.norm(mapped - ARCFACE_TEMPLATE.astype(np.float64), axis=1)
    return float(offsets.max() / _TEMPLATE_EYE_DISTANCE)


def eye_per_box(detection: Detection) -> float:
    lm = np.asarray(detection.landmarks, dtype=np.float64)
    return float(np.linalg.norm(lm[1] - lm[0])) / max(detection.box.width, 1e-6)


@dataclass(frozen=True, slots=True)
class _Crop:
    image: np.ndarray
    face: BBox  # the face box in crop pixels


def _crop_around(image: np.ndarray, box: BBox) -> _Crop:
    """A square crop of CROP_CONTEXT x the box about its centre (grey where it leaves the image),
    scaled so that the box is SECOND_OPINION_FACE_PX wide."""
    side = CROP_CONTEXT * max(box.width, box.height)
    cx, cy = (box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0
    scale = SECOND_OPINION_FACE_PX / max(box.width, 1.0)
    out = max(32, round(side * scale))
    x0, y0 = cx - side / 2.0, cy - side / 2.0
    matrix = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]], np.float32)
    crop = cv2.warpAffine(
        image, matrix, (out, out), flags=cv2.INTER_AREA, borderValue=(127, 127, 127)
    )
    face = BBox(
        (box.x1 - x0) * scale, (box.y1 - y0) * scale, (box.x2 - x0) * scale, (box.y2 - y0) * scale
    )
    return _Crop(crop, face)


def _inside(x: float, y: float, box: BBox) -> bool:
    return box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2


def _same_face(a: BBox, b: BBox) -> bool:
    """Each box's centre lies inside the other (boxes of different tightness, one face)."""
    return _inside((a.x1 + a.x2) / 2, (a.y1 + a.y2) / 2, b) and _inside(
        (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, a
    )


class SecondOpinion:
    """Asks another detector whether there is a face where ours found one; one verb: agrees.

    The detector is loaded by ``load`` on first use (enrollment is rare; its models are not
    needed at startup) and called by one thread at a time (dlib's and YuNet's are not
    thread-safe).
    """

    def __init__(self, load: Callable[[], FaceDetector]) -> None:
        self._load = load
        self._detector: FaceDetector | None = None
        self._lock = threading.Lock()

    def agrees(self, image: np.ndarray, detection: Detection) -> bool:
        crop = _crop_around(image, detection.box)
        with self._lock:
            if self._detector is None:
                self._detector = self._load()
            detector = self._detector
            if any(_same_face(d.box, crop.face) for d in detector.detect(crop.image)):
                return True
            thorough = detector.detect_thorough(crop.image)
        return any(_same_face(d.box, crop.face) for d in thorough)


class FaceLikenessCheck:
    """Judges whether a detection in an enrollment photo is a human face; one verb: judge.

    ``min_score``: the pack's stricter enrollment score (None where the pack's detector score is
    not calibrated, e.g. dlib's HOG margin). ``second``: the other pack's detector, if installed.
    """

    def __init__(self, second: SecondOpinion | None, min_score: float | None) -> None:
        self.second = second
        self.min_score = min_score

    def judge(self, image: np.ndarray, detection: Detection) -> Likeness:
        residual = landmark_residual(detection.landmarks)
        ratio = eye_per_box(detection)
        low, high = EYE_PER_BOX_RANGE
        problem: str | None = None
        confirmed: bool | None = None
        if residual > MAX_LANDMARK_RESIDUAL:
            problem = "its eyes, nose and mouth are not laid out like a human face's"
        elif not low <= ratio <= high:
            problem = "its eyes are too far apart or too close together for a human face"
        else:
            confirmed = self.second.agrees(image, detection) if self.second else None
            problem = self._score_problem(detection.score, confirmed)
        return Likeness(residual, ratio, detection.score, confirmed, problem)

    def _score_problem(self, score: float, confirmed: bool | None) -> str | None:
        parts = []
        if confirmed is False:
            parts.append("a second face detector finds no face there")
        if self.min_score is not None and score < self.min_score:
            parts.append(f"its face score {score:.2f} is below {self.min_score:.2f}")
        return " and ".join(parts) or None


__all__ = [
    "FaceLikenessCheck",
    "Likeness",
    "SecondOpinion",
    "eye_per_box",
    "landmark_residual",
]
