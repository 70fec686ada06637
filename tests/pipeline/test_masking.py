"""Bystander masking on real photos: blurred faces are no longer faces to a detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import Settings
from vigil.models.registry import create_pack
from vigil.pipeline.masking import FaceCropper, blur_all_faces
from vigil.types import BBox, Detection


@pytest.fixture(scope="module")
def onnx_pack(onnx_models: tuple[Path, Path]):
    det, emb = onnx_models
    return create_pack(Settings(model_pack="onnx", onnx={"detector": det, "embedder": emb}))


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_blur_all_faces_leaves_no_detectable_face(onnx_pack, photos: Path) -> None:
    image = cv2.imread(str(photos / "two_people.jpg"))
    faces = onnx_pack.detect(image)
    assert len(faces) >= 2
    blurred = blur_all_faces(image, faces)
    assert onnx_pack.detect(blurred) == []
    assert onnx_pack.detect(image) != []  # the original is untouched (a copy was blurred)


def test_crop_keeps_the_matched_face_and_masks_the_other(onnx_pack, photos: Path) -> None:
    image = cv2.imread(str(photos / "two_people.jpg"))
    faces = sorted(onnx_pack.detect(image), key=lambda d: d.box.x1)[:2]
    # A margin wide enough that the crop of the first face reaches well into the second one.
    gap = faces[1].box.x2 - faces[0].box.x1
    margin = gap / faces[0].box.width
    crop = decode(FaceCropper(margin=margin).crop(image, faces[0], faces))
    found = onnx_pack.detect(crop)
    assert len(found) == 1
    unmasked = decode(FaceCropper(margin=margin).crop(image, faces[0], [faces[0]]))
    assert len(onnx_pack.detect(unmasked)) == 2  # without masking both faces would be in it


def test_crop_is_clipped_at_the_image_border() -> None:
    image = np.full((100, 100, 3), 128, np.uint8)
    edge = Detection(BBox(-10, -10, 30, 30), np.zeros((5, 2), np.float32), 0.9)
    crop = decode(FaceCropper(margin=0.5).crop(image, edge, [edge]))
    assert crop.shape[0] <= 50 and crop.shape[1] <= 50
