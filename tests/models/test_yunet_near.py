"""YuNet near the tracks (``YuNetDetector.detect_near``): windows around known faces find those
faces with the landmarks of a whole-frame scan, and the onnx pack scans whole frames only every
``onnx.full_scan_every``-th analysed frame. Real frames of the Hamilton clip, real YuNet."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.config import load_settings
from vigil.faces.geometry import face_size_px
from vigil.models.base import ModelPack
from vigil.models.registry import create_pack
from vigil.types import BBox, Detection


@pytest.fixture(scope="module")
def clip_frames(clip_frames_every) -> list[np.ndarray]:
    return clip_frames_every(30)


def _same_face(a: Detection, b: Detection) -> bool:
    return a.box.iou(b.box) >= 0.7


def test_windows_around_known_faces_find_them_with_whole_frame_landmarks(
    onnx_pack: ModelPack, clip_frames: list[np.ndarray]
) -> None:
    # faces the onnx pack searches (64 px and more, onnx.video_min_face_px): found again, with
    # landmarks within 5 % of the eye distance (windows on YuNet's stride-32 grid, with a face's
    # width of context on every side; with narrower windows off the grid this fails)
    compared = 0
    for image in clip_frames:
        whole = onnx_pack.detector.detect(image)
        searched = [d for d in whole if face_size_px(d.landmarks) >= 64]
        if not searched:
            continue
        near = onnx_pack.detector.detect_near(image, [d.box for d in whole])
        for face in searched:
            match = [n for n in near if _same_face(face, n)]
            assert len(match) == 1, f"a face at {face.box} was not found once near itself"
            eye_distance = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
            error = np.linalg.norm(match[0].landmarks - face.landmarks, axis=1).max()
            assert error <= 0.05 * eye_distance, (face.box, error, eye_distance)
            compared += 1
    assert compared >= 5  # the clip's larger faces


def test_a_face_away_from_every_window_is_not_found_near_and_no_box_scans_everything(
    onnx_pack: ModelPack, clip_frames: list[np.ndarray]
) -> None:
    image = max(clip_frames, key=lambda f: len(onnx_pack.detector.detect(f)))
    whole = onnx_pack.detector.detect(image)
    assert len(whole) >= 2
    one = whole[0]
    near = onnx_pack.detector.detect_near(image, [one.box])
    assert any(_same_face(one, n) for n in near)
    far = [d for d in whole if d.box.iou(one.box) == 0 and abs(d.box.x1 - one.box.x1) > 200]
    assert not any(_same_face(d, n) for d in far for n in near)  # found at the next whole scan
    everything = onnx_pack.detector.detect_near(image, [])
    assert len(everything) == len(whole)


def test_a_box_outside_the_frame_gives_a_whole_frame_scan(
    onnx_pack: ModelPack, clip_frames: list[np.ndarray]
) -> None:
    image = clip_frames[len(clip_frames) // 2]
    outside = BBox(5000.0, 5000.0, 5100.0, 5100.0)
    assert len(onnx_pack.detector.detect_near(image, [outside])) == len(
        onnx_pack.detector.detect(image)
    )


@pytest.mark.parametrize(("configured", "expected"), [(None, 2), ("1", 1), ("3", 3)])
def test_the_onnx_pack_scans_whole_frames_every_nth_frame(
    onnx_env: dict[str, str], configured, expected
) -> None:
    if configured is not None:
        onnx_env["VIGIL_ONNX_FULL_SCAN_EVERY"] = configured
    pack = create_pack(load_settings(onnx_env))
    try:
        assert pack.full_scan_every == expected
    finally:
        pack.close()
