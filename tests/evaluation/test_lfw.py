"""LFW 10-fold protocol: parsing, threshold choice, FPR calibration and short real runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.config import Settings
from vigil.errors import ConfigError, InputError
from vigil.evaluation.lfw import (
    LfwResult,
    PairScores,
    _pick,
    best_threshold,
    read_pairs,
    run_lfw,
    ten_fold,
    threshold_at_fpr,
)
from vigil.models.base import FaceDetector, ModelPack
from vigil.types import BBox, Detection


def test_read_pairs_keeps_folds_and_halves(shared_dir: Path) -> None:
    pairs = read_pairs(shared_dir / "data" / "lfw" / "pairs.txt", limit_per_fold=6)
    assert len(pairs) == 60
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in in_fold) == 3 and sum(not p.same for p in in_fold) == 3
    first = pairs[0]
    assert first.same and first.left == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert first.right == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert len(read_pairs(shared_dir / "data" / "lfw" / "pairs.txt")) == 6000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ten 300\n", "first line"),
        ("1 1\nA 1 2\n", "expected 2 pairs"),
        ("1 1\nA 1 2 3\nB 1 C 2\n", "does not fit"),
    ],
)
def test_read_pairs_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_pairs(path)


def _box(x1: float, y1: float, x2: float, y2: float) -> Detection:
    return Detection(box=BBox(x1, y1, x2, y2), landmarks=np.zeros((5, 2), np.float32), score=1.0)


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([], None),
        ([(70, 70, 180, 180)], 0),
        # a bystander at the edge is not the labelled face, even when it is the only one found
        ([(-24, 76, 77, 167)], None),
        ([(5, 170, 42, 207)], None),
        # nearer the centre but not covering it (a small face behind) loses to the centred one
        ([(74, 98, 118, 143), (116, 76, 205, 166)], 1),
        ([(40, 40, 200, 180), (80, 80, 170, 170)], 1),
    ],
)
def test_pick_takes_the_face_covering_the_image_centre(
    boxes: list[tuple[float, float, float, float]], expected: int | None
) -> None:
    detections = [_box(*b) for b in boxes]
    picked = _pick(detections, 250, 250)
    assert picked is (None if expected is None else detections[expected])


def test_best_threshold_separates_separable_scores() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    t = best_threshold(scores, same)
    assert 0.3 < t < 0.7


def _synthetic(seed: int = 0, n: int = 600) -> PairScores:
    rng = np.random.default_rng(seed)
    same = np.tile(np.repeat([True, False], n // 20), 10)
    scores = np.where(same, rng.normal(0.7, 0.1, len(same)), rng.normal(0.2, 0.1, len(same)))
    folds = np.repeat(np.arange(10), n // 10)
    return PairScores(scores, same, folds)


def test_ten_fold_on_synthetic_scores() -> None:
    accuracies, thresholds = ten_fold(_synthetic())
    assert len(accuracies) == len(thresholds) == 10
    assert 0.95 < float(np.mean(accuracies)) <= 1.0  # two normals 5 sigma apart
    assert all(0.3 < t < 0.6 for t in thresholds)


@pytest.mark.parametrize("fpr", [0.0, 0.01, 0.1, 0.5])
def test_threshold_at_fpr_meets_the_target(fpr: float) -> None:
    scores = _synthetic(seed=3)
    result = threshold_at_fpr(scores, fpr)
    impostors = scores.scores[~scores.same]
    assert result.fpr <= fpr
    assert float(np.mean(impostors >= result.threshold)) == pytest.approx(result.fpr)
    # The threshold is the lowest that meets the target: one impostor more would break it.
    assert float(np.mean(impostors >= result.threshold - 1e-9)) > fpr
    assert 0.0 < result.tpr <= 1.0


@pytest.mark.parametrize("fpr", [-0.1, 1.0, 2.0])
def test_threshold_at_fpr_rejects_impossible_targets(fpr: float) -> None:
    with pytest.raises(InputError):
        threshold_at_fpr(_synthetic(), fpr)


@pytest.fixture()
def lfw(shared_dir: Path) -> Path:
    return shared_dir / "data" / "lfw"


def test_missing_lfw_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError, match="LFW not found"):
        run_lfw(settings, "onnx", lfw=tmp_path / "nowhere", limit_pairs=2)


@pytest.mark.slow
def test_short_real_run_onnx(model_settings: Settings, onnx_pack: ModelPack, lfw: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = run_lfw(
        model_settings,
        "onnx",
        lfw=lfw,
        limit_pairs=20,
        progress=lambda d, t: calls.append((d, t)),
        pack=onnx_pack,
    )
    assert isinstance(result, LfwResult)
    assert result.pairs == 200 and len(result.fold_accuracies) == 10
    assert result.accuracy_mean > 0.9
    assert 0.0 < result.threshold_mean < 0.7
    assert result.no_detection <= 3
    assert calls[-1] == (2 * result.images, 2 * result.images)
    fpr = threshold_at_fpr(result, 0.01)
    assert fpr.fpr <= 0.01 and fpr.tpr > 0.8
    assert "scores" not in result.summary()


@pytest.mark.slow
def test_short_real_run_dlib(model_settings: Settings, dlib_pack: ModelPack, lfw: Path) -> None:
    result = run_lfw(model_settings, "dlib", lfw=lfw, limit_pairs=4, pack=dlib_pack)
    assert result.pairs == 40 and result.pack == "dlib"
    assert result.accuracy_mean > 0.8


class _Blind(FaceDetector):
    """Finds nothing: every image must go through the central-box fallback."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        return []


@pytest.mark.slow
def test_images_without_detection_use_the_central_fallback(
    model_settings: Settings, onnx_pack: ModelPack, lfw: Path
) -> None:
    blind = ModelPack("onnx", _Blind(), onnx_pack.embedder)
    result = run_lfw(model_settings, "onnx", lfw=lfw, limit_pairs=10, pack=blind)
    assert result.no_detection == result.images and result.upscaled_detections == 0
    assert result.accuracy_detected_pairs is None  # no pair has two detected images
    assert result.accuracy_mean > 0.7  # LFW crops are centred: the fallback still sees the face


class _ThoroughOnly(FaceDetector):
    """The fast detector sees nothing; the still-photo detector (here: a real one) does."""

    def __init__(self, real: FaceDetector) -> None:
        self.real = real

    def detect(self, image: np.ndarray) -> list[Detection]:
        return []

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        return self.real.detect(image)


@pytest.mark.slow
def test_still_photo_detector_is_tried_before_the_central_fallback(
    model_settings: Settings, onnx_pack: ModelPack, lfw: Path
) -> None:
    pack = ModelPack("onnx", _ThoroughOnly(onnx_pack.detector), onnx_pack.embedder)
    result = run_lfw(model_settings, "onnx", lfw=lfw, limit_pairs=4, pack=pack)
    assert result.thorough_detections == result.images
    assert result.no_detection == 0 and result.upscaled_detections == 0


@pytest.mark.slow
def test_worker_processes_give_the_same_figures(
    model_settings: Settings, onnx_pack: ModelPack, lfw: Path
) -> None:
    here = run_lfw(model_settings, "onnx", lfw=lfw, limit_pairs=6, pack=onnx_pack)
    calls: list[tuple[int, int]] = []
    spread = run_lfw(
        model_settings,
        "onnx",
        lfw=lfw,
        limit_pairs=6,
        workers=2,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert spread.pairs == here.pairs == 60
    np.testing.assert_allclose(spread.scores.scores, here.scores.scores, atol=1e-5)
    assert spread.accuracy_mean == here.accuracy_mean
    assert calls[-1] == (2 * spread.images, 2 * spread.images)


def test_workers_must_be_positive(model_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="workers"):
        run_lfw(model_settings, "onnx", lfw=tmp_path, limit_pairs=2, workers=0)
