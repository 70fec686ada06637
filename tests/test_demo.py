"""The demo scene: built from pip-installed data only, and a real match for the default pack."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.demo import SCENE_WIDTH, SceneSpec, build_scene, enrollment_view, render_frames
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
    assert score >= pack.threshold
    empty = frames[0]
    assert pack.detect(empty) == []
    assert np.isfinite(score)
