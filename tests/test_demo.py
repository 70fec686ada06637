"""The demo scene: built from pip-installed data only, and a real match for the default pack."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.accountability.threshold import configured_threshold
from vigil.demo import (
    SCENE_HEIGHT,
    SCENE_WIDTH,
    SceneSpec,
    astronaut_bgr,
    background,
    build_scene,
    enrollment_view,
    render_frames,
)
from vigil.errors import InputError


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SceneSpec(fps=0), "must be positive"),
        (SceneSpec(walk_seconds=-1), "must be positive"),
        (SceneSpec(seconds=5.0), "must have left before the clip ends"),
    ],
)
def test_bad_scene_specs_are_refused(spec: SceneSpec, message: str) -> None:
    with pytest.raises(InputError, match=message):
        spec.validated()


def test_person_enters_stands_and_leaves() -> None:
    spec = SceneSpec()
    width = 200
    assert spec.position(0.0, width) is None
    middle = spec.position(spec.enter_at + spec.walk_seconds + 1.0, width)
    assert middle is not None and 0 < middle < SCENE_WIDTH - width
    assert spec.position(spec.seconds - 0.1, width) is None


def test_scene_video_is_written_and_readable(tmp_path: Path) -> None:
    spec = SceneSpec(seconds=4.0, enter_at=0.5, walk_seconds=1.5, stand_seconds=0.5)
    scene = build_scene(tmp_path, spec)
    cap = cv2.VideoCapture(str(scene.video))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (360, 640, 3)
    assert frames == scene.frames == 40
    assert cv2.imread(str(scene.enrollment_photo)) is not None


def test_enrollment_photo_is_not_a_frame_of_the_video() -> None:
    view = enrollment_view()
    frames = render_frames(SceneSpec())
    # a different crop, scale, angle and light: it cannot be found verbatim in any frame
    compared = 0
    for frame in frames[::10]:
        if view.shape[0] <= frame.shape[0] and view.shape[1] <= frame.shape[1]:
            score = cv2.matchTemplate(frame, view, cv2.TM_CCOEFF_NORMED).max()
            assert score < 0.95
            compared += 1
    assert compared, f"the {view.shape} view is larger than every frame: nothing was compared"
    assert view.shape != (512, 512, 3)


@pytest.mark.slow
def test_default_pack_matches_the_enrolled_view_in_the_scene(settings) -> None:
    from vigil.models.registry import create_pack

    pack = create_pack(settings, "dlib")
    view = enrollment_view()
    enrolled = pack.embed_image(view, pack.detect(view)[0])
    spec = SceneSpec()
    frames = render_frames(spec)
    middle = frames[int((spec.enter_at + spec.walk_seconds + spec.stand_seconds / 2) * spec.fps)]
    found = pack.detect(middle)
    assert len(found) == 1
    score = float(pack.embed_image(middle, found[0]).vector @ enrolled.vector)
    assert score >= configured_threshold(settings, pack.name)
    empty = frames[0]
    assert pack.detect(empty) == []
    assert np.isfinite(score)


def test_demo_pictures_are_package_data_without_scikit_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)  # any import of it would now fail
    portrait = astronaut_bgr()
    assert portrait.shape == (512, 512, 3) and portrait.dtype == np.uint8
    # the face region is skin-toned (red > blue in BGR), not a blank or grey placeholder
    face = portrait[90:160, 190:250].reshape(-1, 3).mean(axis=0)
    assert face[2] > face[0] + 20
    scene = background()
    assert scene.shape == (SCENE_HEIGHT, SCENE_WIDTH, 3) and scene.std() > 10


def test_scikit_image_is_not_a_runtime_dependency() -> None:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    deps = " ".join(project["project"]["dependencies"]).lower()
    assert "scikit-image" not in deps and "skimage" not in deps
    data = project["tool"]["setuptools"]["package-data"]["vigil"]
    assert "demo_data/*.jpg" in data
    shipped = Path(__file__).parents[1] / "src" / "vigil" / "demo_data" / "astronaut.jpg"
    assert shipped.stat().st_size < 100_000
