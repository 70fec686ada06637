"""The dlib pack in worker processes gives what the in-process pack gives, and serves two callers
at once (real dlib models, real photos from the shared folder)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import DlibConfig, Settings
from vigil.models.base import ModelPack
from vigil.models.dlib_pack import build_local_dlib_pack
from vigil.models.dlib_remote import PooledDlibPack, build_pooled_dlib_pack, face_crop
from vigil.models.registry import create_pack
from vigil.types import BBox, Detection

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local() -> ModelPack:
    return build_local_dlib_pack(DlibConfig())


@pytest.fixture(scope="module")
def pooled():
    pack = build_pooled_dlib_pack(DlibConfig(workers=2))
    yield pack
    pack.close()


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.mark.parametrize("photo", ["obama.jpg", "lin-manuel-miranda.png"])
def test_the_pool_gives_the_in_process_results(
    local: ModelPack, pooled: PooledDlibPack, photos: Path, photo: str
) -> None:
    image = _read(photos / photo)
    (face,) = local.detect(image)
    (remote,) = pooled.detect(image)
    assert remote.box == face.box
    np.testing.assert_allclose(remote.landmarks, face.landmarks, atol=1e-5)
    assert np.array_equal(
        pooled.embedder.align(image, face).image, local.embedder.align(image, face).image
    )
    for mine, theirs in (
        (pooled.embed_image(image, face), local.embed_image(image, face)),
        (pooled.embed_still(image, face), local.embed_still(image, face)),
    ):
        assert mine.pack == "dlib"
        np.testing.assert_allclose(mine.vector, theirs.vector, atol=1e-5)


def test_two_concurrent_callers_overlap_in_the_workers(
    pooled: PooledDlibPack, photos: Path
) -> None:
    """Counted inside the workers: the most calls in flight at the same moment. In-process dlib
    (one call at a time under the GIL and the pack's lock) never gets past 1."""
    image = _read(photos / "obama.jpg")
    (face,) = pooled.detect(image)
    start = threading.Barrier(2)

    def embed_stills() -> None:
        for _ in range(4):
            start.wait(60)
            pooled.embed_still(image, face)  # 8 ResNet passes: long enough to meet the other

    threads = [threading.Thread(target=embed_stills) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    stats = pooled.pool.stats()
    assert stats.max_in_flight == 2, stats
    assert stats.in_flight == 0


def test_bad_input_is_refused_before_it_travels(pooled: PooledDlibPack) -> None:
    calls = pooled.pool.stats().calls
    with pytest.raises(ValueError, match="expected a uint8 HxWx3 BGR image"):
        pooled.detect(np.zeros((10, 10), dtype=np.uint8))
    assert pooled.pool.stats().calls == calls


def test_workers_setting_chooses_the_pooled_or_the_in_process_pack(
    model_settings: Settings,
) -> None:
    local = create_pack(model_settings.model_copy(update={"dlib": DlibConfig(workers=0)}), "dlib")
    assert not isinstance(local, PooledDlibPack)
    pooled = create_pack(model_settings.model_copy(update={"dlib": DlibConfig(workers=1)}), "dlib")
    try:
        assert isinstance(pooled, PooledDlibPack) and pooled.pool.size == 1
    finally:
        pooled.close()


def _detection(x1: float, y1: float, x2: float, y2: float) -> Detection:
    points = np.array([[x1 + 1, y1 + 1]] * 5, dtype=np.float32)
    return Detection(BBox(x1, y1, x2, y2), points, 0.9)


@pytest.mark.parametrize(
    ("box", "window"),
    [
        # (x1, y1, x2, y2) of the face -> (x0, y0, x1, y1) of the window in a 640x360 frame
        ((300.5, 100.5, 340.5, 140.5), (240, 40, 401, 201)),  # 1.5 sides around, even origin
        ((301.0, 101.0, 341.0, 141.0), (240, 40, 401, 201)),  # 241 floored to the even 240
        ((5.0, 5.0, 45.0, 45.0), (0, 0, 105, 105)),  # clipped at the frame's edges
        ((600.0, 320.0, 640.0, 360.0), (540, 260, 640, 360)),
    ],
)
def test_face_crop_window(
    box: tuple[float, float, float, float], window: tuple[int, int, int, int]
) -> None:
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    detection = _detection(*box)
    crop = face_crop(frame, detection)
    x0, y0, x1, y1 = window
    assert np.array_equal(crop.image, frame[y0:y1, x0:x1])
    moved = crop.detection.box
    assert (moved.x1, moved.y1) == (box[0] - x0, box[1] - y0)
    # dlib's rectangle is round()ed: the even origin keeps it the same face rectangle
    assert round(moved.x1) + x0 == round(box[0]) and round(moved.y1) + y0 == round(box[1])
    shift = np.array([x0, y0], dtype=np.float32)
    np.testing.assert_array_equal(crop.detection.landmarks + shift, detection.landmarks)


def test_detection_near_a_face_finds_it_in_and_out_of_process(
    local: ModelPack, pooled: PooledDlibPack, photos: Path
) -> None:
    """HOG over a window around the face (vigil.models.hog_regions) finds the face the whole
    photo gives, back in photo coordinates, with the same landmarks; the worker agrees."""
    image = _read(photos / "obama.jpg")
    (face,) = local.detect(image)
    nearby = BBox(face.box.x1 + 6, face.box.y1 - 4, face.box.x2 + 6, face.box.y2 - 4)
    (near,) = local.detect_near(image, [nearby])
    assert near.box.iou(face.box) > 0.8
    np.testing.assert_allclose(near.landmarks, face.landmarks, atol=0.15 * face.box.width)
    (remote,) = pooled.detect_near(image, [nearby])
    assert remote.box == near.box
    np.testing.assert_allclose(remote.landmarks, near.landmarks, atol=1e-5)
    far = BBox(0, 0, 20, 20)  # a window in a corner, away from the face: nothing there
    assert local.detect_near(image, [far]) == [] and pooled.detect_near(image, [far]) == []


def test_the_cadence_comes_from_the_config_in_and_out_of_process(
    local: ModelPack, pooled: PooledDlibPack
) -> None:
    assert local.full_scan_every == pooled.full_scan_every == DlibConfig().full_scan_every == 3
    assert build_local_dlib_pack(DlibConfig(full_scan_every=1)).full_scan_every == 1


def test_video_frames_are_scanned_in_grey_and_find_the_colour_faces(
    local: ModelPack, pooled: PooledDlibPack, photos: Path, clip_frames: list[np.ndarray]
) -> None:
    """``dlib.video_gray`` (the default): a whole video frame is scanned on its grey copy and
    finds the faces the colour scan finds, with the landmarks computed on colour as there; the
    worker gives the same. With the setting off, a video frame is scanned exactly as a photo."""
    colour = build_local_dlib_pack(DlibConfig(video_gray=False))
    for image in [_read(photos / "obama.jpg"), *clip_frames]:
        want = colour.detect_frame(image)
        assert [d.box for d in want] == [d.box for d in colour.detect(image)]
        got = local.detect_frame(image)
        assert len(got) == len(want), (len(got), len(want))
        for grey, rgb in zip(sorted(got, key=_x), sorted(want, key=_x), strict=True):
            assert grey.box.iou(rgb.box) > 0.6
        remote = pooled.detect_frame(image)
        assert [d.box for d in remote] == [d.box for d in got]


def test_video_scans_get_the_grey_frame_and_photos_the_colour_one(local: ModelPack) -> None:
    """What HOG is given: a 2-D grey image for a whole video frame and for windows near the
    tracks, the 3-channel colour image for a still photo."""
    grey_calls: list[int] = []
    detector = local.detector
    original = detector._hog  # type: ignore[attr-defined]

    def spy(image: np.ndarray) -> list:
        grey_calls.append(image.ndim)
        return original(image)

    detector._hog = spy  # type: ignore[attr-defined]
    try:
        frame = np.zeros((120, 160, 3), np.uint8)
        local.detect_frame(frame)
        local.detect_near(frame, [BBox(10, 10, 60, 60)])
        local.detect(frame)
    finally:
        detector._hog = original  # type: ignore[attr-defined]
    assert grey_calls[:2] == [2, 2] and grey_calls[-1] == 3, grey_calls


def _x(d: Detection) -> float:
    return d.box.x1


@pytest.fixture(scope="module")
def clip_frames(clip_frames_every) -> list[np.ndarray]:
    return clip_frames_every(45, 6)


def test_several_faces_are_spread_over_the_workers_in_order(
    local: ModelPack, pooled: PooledDlibPack, photos: Path
) -> None:
    """Three faces embedded for a camera go out as one request per worker, at once, and come
    back in the order given, equal to the in-process pack's."""
    image = _read(photos / "two_people.jpg")
    faces = local.detect(image)
    assert len(faces) == 2
    crops = [face_crop(image, f) for f in (faces[0], faces[1], faces[0])]
    before = pooled.pool.stats().calls
    got = pooled.remote.embed_crops(crops)
    assert pooled.pool.stats().calls - before == 2  # one request per worker, not one per face
    for mine, face in zip(got, (faces[0], faces[1], faces[0]), strict=True):
        np.testing.assert_allclose(mine.vector, local.embed_image(image, face).vector, atol=1e-5)
    assert not np.allclose(got[0].vector, got[1].vector)
