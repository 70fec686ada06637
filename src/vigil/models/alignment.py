"""Face alignment helpers shared by the model packs.

* :data:`ARCFACE_TEMPLATE`: where the 5 landmarks of an ArcFace-style 112x112 chip sit.
* :func:`similarity_transform`: least-squares similarity (rotation, uniform scale, shift) mapping
  one point set onto another (Umeyama's method; no RANSAC, so every landmark counts).
* :func:`template_for` / :func:`warp_to_template`: the template for, and an aligned chip of, any
  chip size (square or not) cut out of a BGR image.
* :func:`landmarks_from_dlib68`: the same five points from dlib's 68-point (iBUG) model, whose
  mouth corners are measured rather than estimated.
* :func:`landmarks_from_dlib5`: convert dlib's 5-point model (eye corners + nose bottom) to the
  project's landmark order (see :mod:`vigil.types`).
"""

from __future__ import annotations

import cv2
import numpy as np

from vigil.types import LANDMARK_COUNT

# ArcFace 112x112 template, in the project's order: left eye (image left), right eye, nose tip,
# left mouth corner, right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
ARCFACE_SIZE = 112

# Mouth-corner estimate for dlib's 5-point model, which has no mouth points. Offsets are in units
# of the inter-ocular distance, measured from the ArcFace template: the mouth line sits 1.16 IODs
# below the eye line and the corners are 0.41 IOD either side of the mouth centre.
_MOUTH_DOWN_IOD = (92.28 - 51.60) / 35.24
_MOUTH_HALF_WIDTH_IOD = (70.73 - 41.55) / 2 / 35.24


def _check_points(name: str, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
        raise ValueError(f"{name}: expected an (N>=2, 2) point array, got shape {pts.shape}")
    return pts


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity transform taking ``src`` points onto ``dst``."""
    s = _check_points("similarity_transform src", src)
    d = _check_points("similarity_transform dst", dst)
    if s.shape != d.shape:
        raise ValueError(f"similarity_transform: src {s.shape} and dst {d.shape} differ")
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - s_mean, d - d_mean
    s_var = float((s_c**2).sum() / len(s))
    if s_var <= 1e-12:
        raise ValueError("similarity_transform: source points are all in one place")
    cov = d_c.T @ s_c / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign)) / s_var
    shift = d_mean - scale * rot @ s_mean
    return np.hstack([scale * rot, shift[:, None]]).astype(np.float32)


def template_for(width: int, height: int | None = None) -> np.ndarray:
    """The ArcFace template for a ``width`` x ``height`` chip (square when ``height`` is None).

    The template is scaled with the chip's height and centred across its width, the convention of
    ArcFace-style models with other input sizes (e.g. 112x96 chips: the 112x112 template moved
    8 px to the left).
    """
    h = width if height is None else height
    if width < 16 or h < 16:
        raise ValueError(f"template_for: expected a chip of at least 16x16 px, got {width}x{h}")
    scale = h / ARCFACE_SIZE
    shift = np.array([(width - ARCFACE_SIZE * scale) / 2.0, 0.0], dtype=np.float32)
    return (ARCFACE_TEMPLATE * scale + shift).astype(np.float32)


def warp_to_template(
    image: np.ndarray, landmarks: np.ndarray, size: int = ARCFACE_SIZE, height: int | None = None
) -> np.ndarray:
    """Aligned BGR chip, ``size`` wide and ``height`` (default ``size``) high, with the 5
    landmarks moved onto the ArcFace template (:func:`template_for`)."""
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.shape != (LANDMARK_COUNT, 2):
        raise ValueError(
            f"warp_to_template: expected ({LANDMARK_COUNT}, 2) landmarks, got {lm.shape}"
        )
    h = size if height is None else height
    matrix = similarity_transform(lm, template_for(size, h))
    return cv2.warpAffine(image, matrix, (size, h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def landmarks_from_dlib5(points: np.ndarray) -> np.ndarray:
    """Project-order landmarks from dlib's 5 parts.

    dlib's 5-point model gives: 0/1 outer/inner corner of the image-right eye, 2/3 outer/inner
    corner of the image-left eye, 4 the bottom of the nose. Eye centres are the corner means; the
    nose point is the nose bottom (a little below the tip). dlib has no mouth points: the corners
    are *estimated* from the eye line (ArcFace proportions), shifted sideways with the nose so
    they follow a turned head. They are good enough for the quality gate and display, and they
    are not used for dlib's own alignment (which uses the raw parts).
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape != (5, 2):
        raise ValueError(f"landmarks_from_dlib5: expected (5, 2) dlib parts, got {pts.shape}")
    right_eye = (pts[0] + pts[1]) / 2.0
    left_eye = (pts[2] + pts[3]) / 2.0
    nose = pts[4]
    axis = right_eye - left_eye
    iod = float(np.linalg.norm(axis))
    if iod <= 1e-6:
        raise ValueError("landmarks_from_dlib5: both eyes at the same place")
    across = axis / iod
    down = np.array([-across[1], across[0]], dtype=np.float32)
    eye_mid = (left_eye + right_eye) / 2.0
    lateral = float(np.dot(nose - eye_mid, across))
    mouth_mid = eye_mid + down * (_MOUTH_DOWN_IOD * iod) + across * lateral
    half = across * (_MOUTH_HALF_WIDTH_IOD * iod)
    return np.stack([left_eye, right_eye, nose, mouth_mid - half, mouth_mid + half]).astype(
        np.float32
    )


def landmarks_from_dlib68(points: np.ndarray) -> np.ndarray:
    """Project-order landmarks from dlib's 68 iBUG parts.

    Parts 36-41 outline the image-left eye, 42-47 the image-right eye, 30 is the nose tip and
    48/54 are the image-left/right mouth corners.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks_from_dlib68: expected (68, 2) dlib parts, got {pts.shape}")
    return np.stack(
        [pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]]
    ).astype(np.float32)
