"""Quality gate: is a detected face worth embedding?

Three parts, each in [0, 1], from config :class:`vigil.config.QualityConfig`:

* size: the face's size from its landmarks, :func:`vigil.faces.geometry.face_size_px` (the same
  measure for every pack, whatever its detector's box), against the gate's ``min_face_px`` (0.5
  at the minimum, 1 at twice it). Below it the shot fails with ``too_small``.
* sharpness: variance of the Laplacian of the grey face region, measured after shrinking the
  region to at most :data:`SHARPNESS_SIDE` pixels so big and small faces compare fairly
  (1 at 4x ``min_sharpness``). Below ``min_sharpness`` the shot fails with ``too_blurred``.
* pose: yaw from landmark asymmetry: where the nose falls between the eyes, along the eye line
  (``yaw_ratio`` 0 = nose centred, 1 = nose in line with an eye). Above ``max_yaw_ratio`` the shot
  fails with ``bad_pose``; pose = 1 - yaw_ratio.

``score`` is the geometric mean of the three. A shot passes when ``reason`` is None *and* the
score reaches ``min_score``: use :meth:`QualityGate.passes`.
"""

from __future__ import annotations

import cv2
import numpy as np

from vigil.config import QualityConfig
from vigil.faces.geometry import face_size_px
from vigil.types import Detection, Quality

SHARPNESS_SIDE = 96


def _face_region(image: np.ndarray, detection: Detection) -> np.ndarray:
    h, w = image.shape[:2]
    b = detection.box  # clipped by hand: BBox.clipped refuses a box wholly outside the image
    x1, y1 = min(w, max(0, int(b.x1))), min(h, max(0, int(b.y1)))
    x2, y2 = min(w, max(0, int(np.ceil(b.x2)))), min(h, max(0, int(np.ceil(b.y2))))
    return image[y1:y2, x1:x2]


def laplacian_variance(image: np.ndarray, detection: Detection) -> float:
    """Sharpness of the face region (0.0 when the box lies outside the image)."""
    region = _face_region(image, detection)
    if region.shape[0] < 3 or region.shape[1] < 3:
        return 0.0
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    side = max(grey.shape)
    if side > SHARPNESS_SIDE:
        f = SHARPNESS_SIDE / side
        size = (max(3, round(grey.shape[1] * f)), max(3, round(grey.shape[0] * f)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def yaw_ratio(landmarks: np.ndarray) -> float:
    """0 when the nose sits midway between the eyes, 1 (or more) when in line with an eye."""
    left_eye, right_eye, nose = (np.asarray(landmarks[i], dtype=np.float64) for i in range(3))
    axis = right_eye - left_eye
    iod = float(np.linalg.norm(axis))
    if iod < 1e-6:
        return 1.0
    position = float(np.dot(nose - left_eye, axis)) / (iod * iod)  # 0 at left eye, 1 at right eye
    return abs(position - 0.5) * 2.0


class QualityGate:
    """Scores a detected face; one verb: :meth:`score`.

    ``min_face_px`` starts as the config's; a camera pipeline sets it to the minimum face size
    in force for its gallery (which follows the gallery's size)."""

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self.min_face_px = config.min_face_px

    def score(self, frame_image: np.ndarray, detection: Detection) -> Quality:
        cfg, min_face = self.config, self.min_face_px
        side = face_size_px(detection.landmarks)
        size = min(1.0, side / (2.0 * min_face))
        variance = laplacian_variance(frame_image, detection)
        sharpness = min(1.0, variance / (4.0 * cfg.min_sharpness)) if cfg.min_sharpness > 0 else 1.0
        yaw = yaw_ratio(detection.landmarks)
        pose = max(0.0, 1.0 - yaw)
        reason: str | None = None
        if side < min_face:
            reason = "too_small"
        elif variance < cfg.min_sharpness:
            reason = "too_blurred"
        elif yaw > cfg.max_yaw_ratio:
            reason = "bad_pose"
        combined = float((size * sharpness * pose) ** (1.0 / 3.0))
        return Quality(size=size, sharpness=sharpness, pose=pose, score=combined, reason=reason)

    def passes(self, quality: Quality) -> bool:
        return quality.reason is None and quality.score >= self.config.min_score
