"""Masking: a face the detector missed is never shown sharp.

Synthetic frames with two face-like, high-detail patches, a fake detector (the detections
handed in) that reports none, one or both of them, and sharpness measured as the variance of the
Laplacian in each patch; then real photos through a real detector.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import Settings
from vigil.models.registry import create_pack
from vigil.pipeline.masking import KEEP_GROW, FaceCropper, _grown, blur_all_faces
from vigil.types import BBox, Detection

# Two faces side by side in a 640x360 frame, 64x80 px each (1/10 of the width).
FACE_A = BBox(200, 120, 264, 200)
FACE_B = BBox(290, 130, 354, 210)


@pytest.fixture(scope="module")
def onnx_pack(onnx_models: tuple[Path, Path]):
    det, emb = onnx_models
    return create_pack(Settings(model_pack="onnx", onnx={"detector": det, "embedder": emb}))


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def detection(box: BBox) -> Detection:
    return Detection(box, np.zeros((5, 2), np.float32), 0.9)


def sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    gray = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def pixels(box: BBox, dx: int = 0, dy: int = 0) -> tuple[int, int, int, int]:
    """A box's pixel rectangle, shifted by (dx, dy) into a crop's coordinates."""
    return (int(box.x1) - dx, int(box.y1) - dy, int(box.x2) - dx, int(box.y2) - dy)


def face_like(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A skin-toned oval with eyes, brows, nose and mouth over fine texture (high detail)."""
    patch = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
    cv2.ellipse(patch, (w // 2, h // 2), (w // 2 - 4, h // 2 - 2), 0, 0, 360, (140, 170, 215), -1)
    texture = rng.integers(-40, 40, (h, w, 3))
    patch = np.clip(patch.astype(np.int32) + texture, 0, 255).astype(np.uint8)
    for ex in (w // 3, 2 * w // 3):
        cv2.circle(patch, (ex, h // 3), max(2, w // 12), (30, 30, 30), -1)
        cv2.line(patch, (ex - w // 8, h // 4), (ex + w // 8, h // 4), (20, 20, 20), 2)
    cv2.line(patch, (w // 2, h // 3), (w // 2, 3 * h // 5), (90, 110, 150), 2)
    cv2.ellipse(patch, (w // 2, 3 * h // 4), (w // 5, h // 12), 0, 0, 180, (40, 40, 120), 2)
    return patch


@pytest.fixture()
def frame() -> np.ndarray:
    rng = np.random.default_rng(7)
    ramp = np.linspace(60, 180, 640, dtype=np.float32)
    image = np.repeat(np.tile(ramp, (360, 1))[:, :, None], 3, axis=2).astype(np.uint8)
    for box in (FACE_A, FACE_B):
        x1, y1, x2, y2 = pixels(box)
        image[y1:y2, x1:x2] = face_like(rng, x2 - x1, y2 - y1)
    return image


@pytest.mark.parametrize(
    "reported",
    [pytest.param([], id="none-detected"), pytest.param([FACE_A], id="one-detected")],
)
def test_preview_blurs_the_faces_the_detector_missed(frame: np.ndarray, reported) -> None:
    preview = blur_all_faces(frame, [detection(b) for b in reported])
    assert preview.shape == frame.shape
    for box in (FACE_A, FACE_B):
        before, after = sharpness(frame, pixels(box)), sharpness(preview, pixels(box))
        assert before > 500, "the test patch must start with a lot of detail"
        assert after < 0.02 * before, f"{box} left sharp in the preview ({before:.0f}->{after:.0f})"
    assert np.array_equal(frame, frame.copy())  # not changed in place: a copy was blurred


def test_preview_still_shows_the_scene(frame: np.ndarray) -> None:
    """Coarse light and layout survive (a camera can be checked): 32x18 thumbnails agree."""
    preview = blur_all_faces(frame, [])
    thumbs = [cv2.resize(i, (32, 18), interpolation=cv2.INTER_AREA) for i in (frame, preview)]
    assert np.abs(thumbs[0].astype(int) - thumbs[1].astype(int)).mean() < 12


@pytest.mark.parametrize(
    "reported",
    [pytest.param([FACE_A], id="neighbour-missed"), pytest.param([FACE_A, FACE_B], id="both")],
)
def test_crop_blurs_a_neighbour_the_detector_missed(frame: np.ndarray, reported) -> None:
    matched = detection(FACE_A)
    margin = 0.9  # the crop reaches well into FACE_B
    region = _grown(FACE_A, margin, frame.shape[1], frame.shape[0])
    crop = decode(FaceCropper(margin=margin).crop(frame, matched, [detection(b) for b in reported]))
    original = frame[region.y1 : region.y2, region.x1 : region.x2]
    assert crop.shape == original.shape
    # The part of FACE_B inside the crop, away from the matched face's kept box.
    keep = _grown(FACE_A, KEEP_GROW, frame.shape[1], frame.shape[0])
    b = (keep.x2 - region.x1, int(FACE_B.y1) - region.y1, crop.shape[1], int(FACE_B.y2) - region.y1)
    assert b[2] - b[0] >= 30, "the neighbour must reach well into the crop"
    before, after = sharpness(original, b), sharpness(crop, b)
    assert after < 0.05 * before, f"missed neighbour left sharp ({before:.0f}->{after:.0f})"
    core = pixels(FACE_A, region.x1, region.y1)
    assert sharpness(crop, core) > 0.7 * sharpness(original, core), "the match must stay sharp"


def test_crop_keeps_only_the_matched_oval_sharp() -> None:
    """On a background full of detail, only the oval of the matched box grown by KEEP_GROW
    keeps its detail: the margin and the enlarged box's corners are blurred."""
    image = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    region = _grown(FACE_A, 0.4, 640, 360)
    crop = decode(FaceCropper(margin=0.4).crop(image, detection(FACE_A), []))
    original = image[region.y1 : region.y2, region.x1 : region.x2]
    inner = _grown(FACE_A, -0.2, 640, 360).within(region)
    k = _grown(FACE_A, KEEP_GROW, 640, 360).within(region)
    assert inner is not None and k is not None
    core = (inner.x1, inner.y1, inner.x2, inner.y2)
    assert sharpness(crop, core) > 0.5 * sharpness(original, core)  # JPEG costs some detail
    cw, ch = int(FACE_A.width * 0.1), int(FACE_A.height * 0.1)
    areas = {
        "left margin": (0, 0, k.x1, crop.shape[0]),
        "right margin": (k.x2, 0, crop.shape[1], crop.shape[0]),
        "top margin": (0, 0, crop.shape[1], k.y1),
        "bottom margin": (0, k.y2, crop.shape[1], crop.shape[0]),
        "top-left corner": (k.x1, k.y1, k.x1 + cw, k.y1 + ch),
        "bottom-right corner": (k.x2 - cw, k.y2 - ch, k.x2, k.y2),
    }
    for name, area in areas.items():
        before, after = sharpness(original, area), sharpness(crop, area)
        assert after < 0.05 * before, f"{name} left sharp ({before:.0f}->{after:.0f})"


def test_blur_all_faces_leaves_no_detectable_face(onnx_pack, photos: Path) -> None:
    image = cv2.imread(str(photos / "two_people.jpg"))
    faces = onnx_pack.detect(image)
    assert len(faces) >= 2
    blurred = blur_all_faces(image, faces)
    assert onnx_pack.detect(blurred) == []
    assert onnx_pack.detect(image) != []  # the original is untouched (a copy was blurred)


def test_a_preview_with_every_face_missed_shows_no_face(onnx_pack, photos: Path) -> None:
    """The detector found nothing on the frame: its preview still has no face to find."""
    image = cv2.imread(str(photos / "two_people.jpg"))
    assert len(onnx_pack.detect(image)) >= 2
    assert onnx_pack.detect(blur_all_faces(image, [])) == []


def test_crop_keeps_the_matched_face_and_masks_the_other(onnx_pack, photos: Path) -> None:
    image = cv2.imread(str(photos / "two_people.jpg"))
    faces = sorted(onnx_pack.detect(image), key=lambda d: d.box.x1)[:2]
    # A margin wide enough that the crop of the first face reaches well into the second one.
    gap = faces[1].box.x2 - faces[0].box.x1
    margin = gap / faces[0].box.width
    region = _grown(faces[0].box, margin, image.shape[1], image.shape[0])
    plain = image[region.y1 : region.y2, region.x1 : region.x2]
    assert len(onnx_pack.detect(plain)) == 2  # unmasked, both faces would be in the crop
    for others in (faces, [faces[0]]):  # the neighbour detected, then missed by the detector
        crop = decode(FaceCropper(margin=margin).crop(image, faces[0], others))
        found = onnx_pack.detect(crop)
        assert len(found) == 1, f"{len(found)} faces in the crop with {len(others)} detected"
        b = faces[0].box
        local = BBox(b.x1 - region.x1, b.y1 - region.y1, b.x2 - region.x1, b.y2 - region.y1)
        assert found[0].box.iou(local) > 0.5, "the face left must be the matched one"


def test_crop_is_clipped_at_the_image_border() -> None:
    image = np.full((100, 100, 3), 128, np.uint8)
    edge = Detection(BBox(-10, -10, 30, 30), np.zeros((5, 2), np.float32), 0.9)
    crop = decode(FaceCropper(margin=0.5).crop(image, edge, [edge]))
    assert crop.shape[0] <= 50 and crop.shape[1] <= 50
