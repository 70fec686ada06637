"""Alignment helpers: similarity fit, template warp, dlib 5-point conversion."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.models.alignment import (
    ARCFACE_TEMPLATE,
    landmarks_from_dlib5,
    similarity_transform,
    warp_to_template,
)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_similarity_transform_recovers_a_known_transform() -> None:
    angle, scale, shift = np.deg2rad(17.0), 2.5, np.array([40.0, -12.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE.astype(np.float64)
    dst = scale * src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rot, atol=1e-4)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-3)


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (np.zeros((5, 2)), ARCFACE_TEMPLATE, "all in one place"),
        (np.zeros((5, 3)), ARCFACE_TEMPLATE, r"\(N>=2, 2\)"),
        (ARCFACE_TEMPLATE[:4], ARCFACE_TEMPLATE, "differ"),
    ],
)
def test_similarity_transform_rejects_bad_points(src, dst, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        similarity_transform(src, dst)


def test_warp_moves_landmarks_onto_the_template() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    landmarks = ARCFACE_TEMPLATE * 2.0 + 50.0
    for x, y in landmarks.astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    chip = warp_to_template(image, landmarks, size=112)
    assert chip.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert chip[y, x].max() > 100, f"landmark dot missing at {(x, y)}"


def test_dlib5_conversion_gives_project_order() -> None:
    # dlib parts: image-right eye outer/inner, image-left eye outer/inner, nose bottom.
    parts = np.array([[170, 100], [140, 100], [60, 100], [90, 100], [115, 150]], np.float32)
    lm = landmarks_from_dlib5(parts)
    np.testing.assert_allclose(lm[0], [75, 100])  # image-left eye centre
    np.testing.assert_allclose(lm[1], [155, 100])
    np.testing.assert_allclose(lm[2], [115, 150])
    assert lm[3, 0] < lm[4, 0], "left mouth corner must be image-left"
    assert lm[3, 1] > lm[2, 1] and lm[4, 1] > lm[2, 1], "mouth must be below the nose"
