"""How many onnxruntime runs the ONNX embedder makes: one per call when the model's batch
dimension is dynamic (Nx3xHxW), one per face when it is fixed at 1 (the shipped MobileFaceNet);
and a camera frame whose new faces are tried early costs one run for all of them. Runs are
counted at the session, never timed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_onnx_embedder_config import DIM, _entry, _face_image, _Fixed, _write_model

from vigil.config import OnnxConfig, TrackingConfig
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.models.base import FaceDetector, ModelPack
from vigil.models.onnx_pack import OnnxEmbedder
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import build_pipeline
from vigil.types import BBox, Detection, Frame, Quality

pytest.importorskip("onnx")


class CountingSession:
    """Stands in front of an onnxruntime session and records the batch size of every run."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.batches: list[int] = []

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.batches.append(int(next(iter(feeds.values())).shape[0]))
        return self._session.run(outputs, feeds)


def _embedder(tmp_path: Path, batch: int | str) -> tuple[OnnxEmbedder, CountingSession]:
    path = tmp_path / f"embedder-{batch}.onnx"
    _write_model(path, 64, 64, batch=batch)
    embedder = OnnxEmbedder(path, OnnxConfig())
    counting = CountingSession(embedder._session)
    embedder._session = counting  # the seam: count the runs
    return embedder, counting


@pytest.mark.parametrize(("batch", "runs"), [("N", [3]), (1, [1, 1, 1])])
def test_runs_per_call_follow_the_models_batch_dimension(
    tmp_path: Path, batch: int | str, runs: list[int]
) -> None:
    embedder, counting = _embedder(tmp_path, batch)
    image, detection = _face_image()
    chips = [embedder.align(image, detection)] * 3
    vectors = embedder.embed(chips)
    assert counting.batches == runs
    assert len(vectors) == 3 and all(v.vector.shape == (DIM,) for v in vectors)


class ThreeFaces(FaceDetector):
    """The test face three times side by side in every frame (three tracks)."""

    def __init__(self, detection: Detection, width: int) -> None:
        self.faces = [self._moved(detection, k * width) for k in range(3)]

    @staticmethod
    def _moved(d: Detection, dx: float) -> Detection:
        box = BBox(d.box.x1 + dx, d.box.y1, d.box.x2 + dx, d.box.y2)
        return Detection(box, d.landmarks + np.array([dx, 0], np.float32), d.score)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return list(self.faces)


class PassingGate:
    """Every face passes (the quality gate is not under test here)."""

    def score(self, image: np.ndarray, detection: Detection) -> Quality:
        return Quality(1.0, 1.0, 1.0, 1.0, None)

    def passes(self, quality: Quality) -> bool:
        return True


def test_a_frame_with_three_new_faces_costs_one_run(tmp_path: Path) -> None:
    embedder, counting = _embedder(tmp_path, "N")
    image, detection = _face_image()
    wide = np.ascontiguousarray(np.concatenate([image] * 3, axis=1))
    index = NumpyIndex()
    index.build(np.eye(2, DIM, dtype=np.float32))  # nobody like the test face: no alert
    snapshot = GallerySnapshot((_entry(1), _entry(2)), index, 0.9, "onnx")
    pipeline = build_pipeline(
        "cam",
        ModelPack("onnx", ThreeFaces(detection, image.shape[1]), embedder),
        Matcher(_Fixed(snapshot), top_k=3),
        TrackingConfig(),
        PassingGate(),  # type: ignore[arg-type]
        early_margin=OnnxConfig().early_margin,
    )
    now = datetime.now(UTC)
    for i in range(2):
        pipeline.process(Frame("cam", i, now + timedelta(seconds=i / 5), float(i), wide))
    assert counting.batches == [3, 3]  # each frame: its three probes in one run
