"""LFW View-2 evaluation: the standard 10-fold protocol on the official pairs.

Data: ``SHARED/data/lfw/pairs.txt`` (header ``10 300``, then per fold 300 same-person lines
``name i j`` and 300 different-person lines ``name1 i name2 j``) and
``SHARED/data/lfw/lfw-deepfunneled/NAME/NAME_0001.jpg``.

Every image is embedded once, the way enrollment embeds a still photo (``ModelPack.embed_still``:
for dlib, the mean over 8 chips). For each fold the cosine threshold
with the best accuracy on the 9 other folds is applied to the held-out fold.

Face finding follows enrollment too: the pack's detector, then the same on a 2x upscaled image,
then the pack's slower still-photo detector (dlib: CNN). At each step only a face whose box
contains the image centre counts, since LFW crops are centred on the labelled person. LFW
measures verification, not detection, so an image where all three find nothing uses a central
face box: the mean box and landmarks of the faces detected in the same run. For dlib the
landmark predictor then runs on that box; for ONNX the mean landmarks are warped directly.

``workers`` > 1 spreads detection and embedding over that many processes, each with its own pack.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from multiprocessing.pool import Pool as PoolType
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.config import Settings
from vigil.errors import ConfigError, InputError
from vigil.models.base import ModelPack
from vigil.models.registry import create_pack, in_process
from vigil.types import BBox, Detection

Progress = Callable[[int, int], None]

# Fallback when not a single image of a run had a detection (only possible in tiny runs):
# a central box and landmarks typical of 250x250 deep-funneled LFW crops, as fractions.
_DEFAULT_BOX = (0.30, 0.30, 0.70, 0.74)
_DEFAULT_LANDMARKS = ((0.42, 0.46), (0.58, 0.46), (0.50, 0.55), (0.43, 0.64), (0.57, 0.64))


@dataclass(frozen=True, slots=True)
class LfwPair:
    fold: int
    left: str  # image key NAME/NAME_0001.jpg
    right: str
    same: bool


@dataclass(frozen=True, slots=True)
class PairScores:
    """Cosine similarity per pair and whether the pair is the same person."""

    scores: np.ndarray  # float64 (n,)
    same: np.ndarray  # bool (n,)
    folds: np.ndarray  # int (n,)

    def __post_init__(self) -> None:
        if not (self.scores.shape == self.same.shape == self.folds.shape) or self.scores.ndim != 1:
            raise ValueError(
                f"PairScores: expected three equal 1-D arrays, got {self.scores.shape}, "
                f"{self.same.shape}, {self.folds.shape}"
            )


@dataclass(frozen=True, slots=True)
class LfwResult:
    pack: str
    accuracy_mean: float
    accuracy_std: float
    threshold_mean: float
    threshold_std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    pairs: int
    images: int
    upscaled_detections: int  # found only on the 2x upscaled image
    thorough_detections: int  # found only by the pack's still-photo detector (dlib: CNN)
    no_detection: int  # used the central-box fallback
    # 10-fold accuracy over the pairs whose two images were both detected (None if none were
    # missed): separates detection failures from recognition errors.
    accuracy_detected_pairs: float | None
    seconds: float
    scores: PairScores

    def summary(self) -> dict[str, object]:
        """JSON-ready figures (without the per-pair scores)."""
        data = asdict(self)
        data.pop("scores")
        return data

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


@dataclass(frozen=True, slots=True)
class FprThreshold:
    """The cosine threshold at which at most ``target_fpr`` of different-person pairs match."""

    threshold: float
    target_fpr: float
    fpr: float  # achieved on the given pairs
    tpr: float  # same-person pairs accepted at that threshold
    different_pairs: int
    same_pairs: int


def lfw_root(root: Path) -> Path:
    """``root`` if it holds LFW (pairs.txt and lfw-deepfunneled/), else a ConfigError."""
    if not (root / "pairs.txt").is_file() or not (root / "lfw-deepfunneled").is_dir():
        raise ConfigError(
            "lfw",
            f"LFW not found under {root} (need pairs.txt and lfw-deepfunneled/).",
            hint="give --lfw the LFW folder, or set VIGIL_SHARED to the folder that holds data/lfw",
        )
    return root


def _image_key(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path, limit_per_fold: int | None = None) -> list[LfwPair]:
    """Parse View-2 pairs.txt. ``limit_per_fold`` keeps that many pairs per fold (half same)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    try:
        folds, per_half = (int(v) for v in lines[0].split())
    except ValueError as exc:
        raise InputError(f"{path}: first line must be '<folds> <pairs per half>'") from exc
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * per_half * 2:
        raise InputError(f"{path}: expected {folds * per_half * 2} pairs, found {len(rows)}")
    keep = per_half if limit_per_fold is None else max(1, limit_per_fold // 2)
    pairs: list[LfwPair] = []
    for index, row in enumerate(rows):
        fold, position = divmod(index, per_half * 2)
        same = position < per_half
        if (position % per_half) >= keep:
            continue
        if same and len(row) == 3:
            pairs.append(
                LfwPair(fold, _image_key(row[0], row[1]), _image_key(row[0], row[2]), True)
            )
        elif not same and len(row) == 4:
            pairs.append(
                LfwPair(fold, _image_key(row[0], row[1]), _image_key(row[2], row[3]), False)
            )
        else:
            raise InputError(f"{path}: line {index + 2} {' '.join(row)!r} does not fit fold {fold}")
    return pairs


def _pick(detections: list[Detection], width: int, height: int) -> Detection | None:
    """The labelled face: of the boxes that contain the image centre, the nearest to it.

    LFW crops are centred on the labelled person, so a box that misses the centre is someone
    else (a bystander, a face in a poster). Nearest-centre alone picked such faces when the
    labelled one was missed (7 images of 7,701 with dlib's HOG); None sends the image on to
    the next, more thorough detector instead.
    """
    cx, cy = width / 2.0, height / 2.0
    central = [d for d in detections if d.box.x1 <= cx <= d.box.x2 and d.box.y1 <= cy <= d.box.y2]
    if not central:
        return None

    def distance(d: Detection) -> float:
        return ((d.box.x1 + d.box.x2) / 2 - cx) ** 2 + ((d.box.y1 + d.box.y2) / 2 - cy) ** 2

    return min(central, key=distance)


def _scaled(detection: Detection, factor: float) -> Detection:
    b = detection.box
    box = BBox(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor)
    return Detection(
        box=box, landmarks=(detection.landmarks * factor).astype(np.float32), score=detection.score
    )


@dataclass(frozen=True, slots=True)
class _Found:
    detection: Detection | None
    how: str  # "direct", "upscaled", "thorough" or "none"
    shape: tuple[int, int]  # height, width


def _detect(pack: ModelPack, image: np.ndarray) -> _Found:
    h, w = image.shape[:2]
    found = _pick(pack.detect(image), w, h)
    if found is not None:
        return _Found(found, "direct", (h, w))
    big = cv2.resize(image, (w * 2, h * 2), interpolation=cv2.INTER_LINEAR)
    found = _pick(pack.detect(big), w * 2, h * 2)
    if found is not None:
        return _Found(_scaled(found, 0.5), "upscaled", (h, w))
    found = _pick(pack.detect_thorough(image), w, h)
    return _Found(found, "none" if found is None else "thorough", (h, w))


def _fallback(found: Iterable[_Found], height: int, width: int) -> Detection:
    """Mean relative box and landmarks of this run's detections, placed on a h x w image."""
    rel_boxes, rel_marks = [], []
    for f in found:
        if f.detection is None:
            continue
        fh, fw = f.shape
        b = f.detection.box
        rel_boxes.append((b.x1 / fw, b.y1 / fh, b.x2 / fw, b.y2 / fh))
        rel_marks.append(f.detection.landmarks / np.array([fw, fh], np.float32))
    box = np.mean(rel_boxes, axis=0) if rel_boxes else np.array(_DEFAULT_BOX)
    marks = np.mean(rel_marks, axis=0) if rel_marks else np.array(_DEFAULT_LANDMARKS)
    scale = np.array([width, height], np.float32)
    return Detection(
        box=BBox(box[0] * width, box[1] * height, box[2] * width, box[3] * height),
        landmarks=(marks * scale).astype(np.float32),
        score=0.0,
    )


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"LFW image {path} is missing or unreadable; check the LFW folder")
    return image


@dataclass(frozen=True, slots=True)
class _ImageJobs:
    """Detection and embedding of LFW images by key, with one pack."""

    pack: ModelPack
    root: Path

    def detect(self, key: str) -> _Found:
        return _detect(self.pack, _read(self.root / key))

    def embed(self, job: tuple[str, Detection]) -> np.ndarray:
        return self.pack.embed_still(_read(self.root / job[0]), job[1]).vector


# Set only inside pool processes, by _start_worker: one pack per process (dlib objects are not
# thread-safe and cannot be pickled).
_WORKER_JOBS: _ImageJobs | None = None


def _start_worker(settings: Settings, pack_name: str, root: Path) -> None:
    global _WORKER_JOBS
    _WORKER_JOBS = _ImageJobs(create_pack(in_process(settings), pack_name), root)


def _worker_detect(key: str) -> _Found:
    assert _WORKER_JOBS is not None, "pool process started without _start_worker"
    return _WORKER_JOBS.detect(key)


def _worker_embed(job: tuple[str, Detection]) -> np.ndarray:
    assert _WORKER_JOBS is not None, "pool process started without _start_worker"
    return _WORKER_JOBS.embed(job)


def _mapped(
    pool: PoolType | None,
    fn: Callable[[Any], Any],
    jobs: list[Any],
    progress: Progress | None,
    done: int,
) -> list[Any]:
    """``fn`` over ``jobs`` in order, in the pool or here; progress counts two passes of jobs."""
    results = pool.imap(fn, jobs, chunksize=8) if pool is not None else map(fn, jobs)
    out = []
    for n, result in enumerate(results, done + 1):
        out.append(result)
        if progress:
            progress(n, 2 * len(jobs))
    return out


def embed_images(
    pack: ModelPack | None,
    root: Path,
    keys: list[str],
    progress: Progress | None = None,
    pool: PoolType | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embed each image once. Returns vectors by key and how each face was found.

    With a ``pool`` (started with :func:`_start_worker`) the work runs there; without one it
    runs here with ``pack``.
    """
    detect: Callable[[str], _Found] = _worker_detect
    embed: Callable[[tuple[str, Detection]], np.ndarray] = _worker_embed
    if pool is None:
        if pack is None:
            raise ValueError("embed_images: give a pack or a worker pool")
        here = _ImageJobs(pack, root)
        detect, embed = here.detect, here.embed
    found = dict(zip(keys, _mapped(pool, detect, keys, progress, 0), strict=True))
    fallback_cache: dict[tuple[int, int], Detection] = {}
    jobs: list[tuple[str, Detection]] = []
    for key in keys:
        f = found[key]
        detection = f.detection
        if detection is None:
            if f.shape not in fallback_cache:
                fallback_cache[f.shape] = _fallback(found.values(), *f.shape)
            detection = fallback_cache[f.shape]
        jobs.append((key, detection))
    vectors = _mapped(pool, embed, jobs, progress, len(keys))
    return dict(zip(keys, vectors, strict=True)), {k: f.how for k, f in found.items()}


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold (score >= t means same) with the highest accuracy; midpoint between scores."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    n = len(s)
    # Cut before index i: pairs [0, i) say "different", pairs [i, n) say "same".
    same_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    diff_below = np.concatenate([[0], np.cumsum(~y)])
    correct = same_above + diff_below
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0]) - 1e-6
    if i == n:
        return float(s[-1]) + 1e-6
    return float((s[i - 1] + s[i]) / 2.0)


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == same))


def ten_fold(scores: PairScores) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-fold held-out accuracies and the thresholds chosen on the other folds."""
    accuracies, thresholds = [], []
    for fold in np.unique(scores.folds):
        test = scores.folds == fold
        t = best_threshold(scores.scores[~test], scores.same[~test])
        thresholds.append(t)
        accuracies.append(accuracy_at(scores.scores[test], scores.same[test], t))
    return tuple(accuracies), tuple(thresholds)


def threshold_at_fpr(result_or_scores: LfwResult | PairScores, fpr: float) -> FprThreshold:
    """Lowest cosine threshold at which at most ``fpr`` of different-person pairs are accepted."""
    if not 0.0 <= fpr < 1.0:
        raise InputError(f"target false-positive rate must be in [0, 1), got {fpr}")
    data = result_or_scores.scores if isinstance(result_or_scores, LfwResult) else result_or_scores
    different = np.sort(data.scores[~data.same])[::-1]
    genuine = data.scores[data.same]
    if len(different) == 0 or len(genuine) == 0:
        raise InputError("threshold_at_fpr needs both same-person and different-person pairs")
    allowed = int(np.floor(fpr * len(different)))
    # Accept strictly above the (allowed+1)-th highest impostor score.
    threshold = float(np.nextafter(different[allowed], np.inf))
    return FprThreshold(
        threshold=threshold,
        target_fpr=fpr,
        fpr=float(np.mean(different >= threshold)),
        tpr=float(np.mean(genuine >= threshold)),
        different_pairs=len(different),
        same_pairs=len(genuine),
    )


def score_pairs(pairs: list[LfwPair], vectors: dict[str, np.ndarray]) -> PairScores:
    scores = np.array([float(np.dot(vectors[p.left], vectors[p.right])) for p in pairs])
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=int)
    return PairScores(scores, same, folds)


def run_lfw(
    settings: Settings,
    pack_name: str,
    *,
    lfw: Path,
    limit_pairs: int | None = None,
    progress: Progress | None = None,
    pack: ModelPack | None = None,
    workers: int = 1,
) -> LfwResult:
    """Run the 10-fold protocol. ``limit_pairs`` keeps that many pairs per fold (half same)."""
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    root = lfw_root(lfw)
    started = time.perf_counter()
    pairs = read_pairs(root / "pairs.txt", limit_pairs)
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    images = root / "lfw-deepfunneled"
    # Built here even with workers: a bad pack name or model file fails now, with its message,
    # rather than in every worker process.
    model = pack if pack is not None else create_pack(in_process(settings), pack_name)
    if workers > 1 and pack is None:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _start_worker, (settings, pack_name, images)) as pool:
            vectors, how = embed_images(None, images, keys, progress, pool)
    else:
        vectors, how = embed_images(model, images, keys, progress)
    return _result(model.name, pairs, keys, vectors, how, time.perf_counter() - started)


def _result(
    name: str,
    pairs: list[LfwPair],
    keys: list[str],
    vectors: dict[str, np.ndarray],
    how: dict[str, str],
    seconds: float,
) -> LfwResult:
    scores = score_pairs(pairs, vectors)
    accuracies, thresholds = ten_fold(scores)
    misses = {k for k, h in how.items() if h == "none"}
    detected = [p for p in pairs if p.left not in misses and p.right not in misses]
    detected_accuracy = (
        float(np.mean(ten_fold(score_pairs(detected, vectors))[0])) if misses and detected else None
    )
    return LfwResult(
        pack=name,
        accuracy_mean=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        threshold_mean=float(np.mean(thresholds)),
        threshold_std=float(np.std(thresholds)),
        fold_accuracies=accuracies,
        fold_thresholds=thresholds,
        pairs=len(pairs),
        images=len(keys),
        upscaled_detections=sum(1 for h in how.values() if h == "upscaled"),
        thorough_detections=sum(1 for h in how.values() if h == "thorough"),
        no_detection=len(misses),
        accuracy_detected_pairs=detected_accuracy,
        seconds=seconds,
        scores=scores,
    )
