"""Both model packs on real photos: detection, landmark order, embeddings that separate people."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.accountability.threshold import configured_threshold
from vigil.config import Settings
from vigil.models.base import ModelPack
from vigil.types import Detection

pytestmark = pytest.mark.slow


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image


def _one_face(pack: ModelPack, image: np.ndarray) -> Detection:
    found = pack.detect(image)
    assert len(found) == 1, f"{pack.name}: expected one face, found {len(found)}"
    return found[0]


def _embed(pack: ModelPack, path: Path) -> np.ndarray:
    image = _read(path)
    return pack.embed_image(image, _one_face(pack, image)).vector


def test_finds_both_faces_in_two_people(any_pack: ModelPack, photos: Path) -> None:
    found = any_pack.detect(_read(photos / "two_people.jpg"))
    assert len(found) == 2
    left, right = sorted(found, key=lambda d: d.box.x1)
    assert left.box.x2 < right.box.x1, "the two faces must not overlap"
    for d in found:
        assert 100 < d.box.width < 400


def test_no_face_in_a_blank_image(any_pack: ModelPack) -> None:
    assert any_pack.detect(np.full((480, 640, 3), 127, np.uint8)) == []


def test_landmarks_in_project_order(any_pack: ModelPack, photos: Path) -> None:
    d = _one_face(any_pack, _read(photos / "obama.jpg"))
    left_eye, right_eye, nose, mouth_left, mouth_right = d.landmarks
    assert left_eye[0] < nose[0] < right_eye[0], "eyes must straddle the nose, image-left first"
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    for x, y in d.landmarks:
        assert d.box.x1 - 5 <= x <= d.box.x2 + 5 and d.box.y1 - 5 <= y <= d.box.y2 + 5


def test_embeddings_are_unit_vectors_of_the_pack_dimension(
    any_pack: ModelPack, photos: Path
) -> None:
    image = _read(photos / "biden.jpg")
    embedding = any_pack.embed_image(image, _one_face(any_pack, image))
    assert embedding.pack == any_pack.name
    assert embedding.vector.shape == (any_pack.embedder.dim,)
    assert abs(float(np.linalg.norm(embedding.vector)) - 1.0) < 1e-4


# Photos of five people: same-person pairs must all score above different-person pairs.
PEOPLE = {
    "obama": ["obama.jpg", "obama2.jpg", "test_images/obama3.jpg"],
    "biden": ["biden.jpg", "knn_examples/train/biden/biden2.jpg"],
    "kit_harington": [
        "knn_examples/train/kit_harington/john1.jpeg",
        "knn_examples/train/kit_harington/john2.jpeg",
    ],
    "rose_leslie": [
        "knn_examples/train/rose_leslie/img1.jpg",
        "knn_examples/train/rose_leslie/img2.jpg",
    ],
    "alex_lacamoire": ["alex-lacamoire.png", "knn_examples/train/alex_lacamoire/img1.jpg"],
}


def test_same_person_scores_above_different_people(any_pack: ModelPack, photos: Path) -> None:
    names = [(person, f) for person, files in PEOPLE.items() for f in files]
    vectors = np.stack([_embed(any_pack, photos / f) for _, f in names])
    sims = vectors @ vectors.T
    same, different = [], []
    for i, (pi, _) in enumerate(names):
        for j in range(i + 1, len(names)):
            (same if pi == names[j][0] else different).append(float(sims[i, j]))
    lowest_same, highest_different = min(same), max(different)
    assert lowest_same > highest_different + 0.05, (
        f"{any_pack.name}: same-person from {lowest_same:.3f}, "
        f"different up to {highest_different:.3f}"
    )
    threshold = configured_threshold(Settings(), any_pack.name)
    assert lowest_same >= threshold > highest_different, (
        f"{any_pack.name}: default threshold {threshold} does not separate same-person "
        f"scores (>= {lowest_same:.3f}) from different people (<= {highest_different:.3f})"
    )


def test_align_gives_the_embedders_chip(any_pack: ModelPack, photos: Path) -> None:
    image = _read(photos / "obama.jpg")
    chip = any_pack.embedder.align(image, _one_face(any_pack, image))
    side = 150 if any_pack.name == "dlib" else 112
    assert chip.image.shape == (side, side, 3)
    assert chip.image.std() > 10, "the chip must hold a face, not a blank"


def test_onnx_detector_keeps_coordinates_of_big_photos(onnx_pack: ModelPack, photos: Path) -> None:
    image = _read(photos / "obama.jpg")
    small = _one_face(onnx_pack, image)
    big_image = cv2.resize(image, (image.shape[1] * 3, image.shape[0] * 3))  # > MAX_DETECT_SIDE
    big = _one_face(onnx_pack, big_image)
    np.testing.assert_allclose(big.landmarks / 3.0, small.landmarks, atol=8.0)


def test_embedding_several_faces_keeps_their_order(any_pack: ModelPack, photos: Path) -> None:
    image = _read(photos / "two_people.jpg")
    faces = [any_pack.embedder.align(image, d) for d in any_pack.detect(image)]
    together = any_pack.embedder.embed(faces)
    alone = [any_pack.embedder.embed([f])[0] for f in faces]
    assert len(together) == 2
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-5)
    assert float(together[0].vector @ together[1].vector) < 0.9
    assert any_pack.embedder.embed([]) == []
