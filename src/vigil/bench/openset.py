"""``vigil bench openset``: open-set (1:N) figures of a model pack on LFW, clean and CCTV-like.

The protocol and the metrics are in :mod:`vigil.evaluation.openset`; this module does the image
work and the report:

* clean: every image is found and embedded the way enrollment embeds a still photo
  (:func:`vigil.evaluation.lfw.embed_images`), gallery and probes alike;
* CCTV-like (``--cctv``): the gallery stays clean (enrollment photos), each *probe* is shrunk so
  that its face is ``face_px`` wide (:func:`vigil.faces.geometry.face_size_px` of the clean
  detection's landmarks), blurred a little (Gaussian, sigma :data:`BLUR_SIGMA` px), saved as
  JPEG quality :data:`JPEG_QUALITY` and read back, laid on a replicated border of at least
  :data:`MIN_CANVAS` px; then the pack's *video* detector runs on it (no upscaling, no slower
  still-photo detector) and the face at the centre is embedded the way a camera shot is
  (``ModelPack.embed_image``). When the detector finds no face there, the probe is a miss: a
  false negative for a mated probe, no alert for a non-mated one; the report counts misses.

Embeddings are cached on disk per pack configuration and variant (``<cache>/<pack>-<hash>/``),
so a rerun only embeds what is missing; an interrupted run keeps what it finished.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.pool import Pool as PoolType
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.bench.openset_cache import EmbeddingCache
from vigil.config import Settings
from vigil.errors import InputError
from vigil.evaluation import lfw as lfw_jobs
from vigil.evaluation.early import EarlyReport, measure_early
from vigil.evaluation.lfw import (
    _DEFAULT_LANDMARKS,
    _detect,
    _pick,
    _read,
    _start_worker,
    embed_images,
    lfw_root,
)
from vigil.evaluation.openset import (
    GrowthRow,
    HalfDesign,
    OperatingRow,
    Searches,
    VideoPoint,
    choose_video_point,
    design_half,
    growth,
    lfw_identities,
    operating_row,
    threshold_at_fpir,
)
from vigil.faces.geometry import face_size_px
from vigil.models.base import ModelPack

Progress = Callable[[str, int, int], None]

FACE_SIZES = (24, 32, 48, 64)
JPEG_QUALITY = 40
BLUR_SIGMA = 0.6  # px at the reduced size: a slightly soft lens
MIN_CANVAS = 160  # px: small crops get a border so detectors see some context
TARGETS = (0.01, 0.001)
CHUNK = 200  # images embedded between two cache saves


@dataclass(frozen=True, slots=True)
class OpensetOptions:
    """What to run. ``sizes`` holds gallery sizes; 0 means as many as the half allows."""

    sizes: tuple[int, ...] = (100, 1000, 0)
    mated_per_id: int = 2
    nonmated: int = 1000
    cctv: bool = False
    face_sizes: tuple[int, ...] = FACE_SIZES
    video_fpir: float = 0.001  # the FPIR the video threshold is chosen at
    video_n: int = 1000  # ... at this gallery size (the largest measured if smaller)
    video_max_fnir: float = 0.5  # the smallest face size whose tuning FNIR is at most this
    workers: int = 1  # processes embedding at once (one pack each); the figures do not change


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"100,1000,max"`` -> ``(100, 1000, 0)``; 0 stands for ``max``."""
    sizes: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "max":
            sizes.append(0)
        elif part.isdigit() and int(part) >= 1:
            sizes.append(int(part))
        else:
            raise InputError(f"--n: {part!r} is not a gallery size", hint="e.g. --n 100,1000,max")
    if not sizes:
        raise InputError("--n: give at least one gallery size", hint="e.g. --n 100,1000,max")
    return tuple(dict.fromkeys(sizes))


def parse_face_sizes(text: str) -> tuple[int, ...]:
    """``"24,32,48,64"`` -> ``(24, 32, 48, 64)``: face widths from 8 to 200 px."""
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        if not part.isdigit() or not 8 <= int(part) <= 200:
            raise InputError(
                f"--face-sizes: {part!r} is not a face width from 8 to 200 px",
                hint="e.g. --face-sizes 24,32,48,64",
            )
        sizes.append(int(part))
    return tuple(sorted(set(sizes)))


def cctv_like(image: np.ndarray, landmarks: np.ndarray, face_px: int) -> np.ndarray:
    """``image`` shrunk so the face is ``face_px`` wide, blurred, JPEG-compressed, bordered."""
    size = face_size_px(landmarks)
    if size <= 0:
        raise ValueError("cctv_like: the landmarks give no face size")
    scale = min(1.0, face_px / size)
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("cctv_like: JPEG encoding failed")
    degraded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if degraded is None:
        raise ValueError("cctv_like: JPEG decoding failed")
    sh, sw = degraded.shape[:2]
    pad_y, pad_x = max(0, (MIN_CANVAS - sh + 1) // 2), max(0, (MIN_CANVAS - sw + 1) // 2)
    return cv2.copyMakeBorder(degraded, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)


def _landmarks_of(pack: ModelPack, image: np.ndarray) -> np.ndarray:
    """The clean detection's landmarks (LFW's typical ones where nothing was found)."""
    found = _detect(pack, image)
    if found.detection is not None:
        marks = found.detection.landmarks
    else:
        h, w = found.shape
        marks = np.array(_DEFAULT_LANDMARKS) * np.array([w, h])
    return np.asarray(marks, np.float32).reshape(-1)


def _cctv_vector(pack: ModelPack, image: np.ndarray, marks: np.ndarray, face_px: int) -> np.ndarray:
    """A CCTV-like probe's embedding; a row of NaN where the video detector found no face."""
    shrunk = cctv_like(image, marks.reshape(-1, 2), face_px)
    h, w = shrunk.shape[:2]
    found = _pick(pack.detect_frame(shrunk), w, h)
    if found is None:
        return np.full(pack.embedder.dim, np.nan, np.float32)
    return pack.embed_image(shrunk, found).vector.astype(np.float32)


def _worker_pack() -> tuple[ModelPack, Path]:
    jobs = lfw_jobs._WORKER_JOBS
    assert jobs is not None, "pool process started without _start_worker"
    return jobs.pack, jobs.root


def _worker_landmarks(key: str) -> np.ndarray:
    pack, root = _worker_pack()
    return _landmarks_of(pack, _read(root / key))


def _worker_cctv(job: tuple[str, np.ndarray, int]) -> np.ndarray:
    pack, root = _worker_pack()
    return _cctv_vector(pack, _read(root / job[0]), job[1], job[2])


class _Embedder:
    """Fills the cache for each variant with one pack, here or in a pool of processes."""

    def __init__(
        self,
        pack: ModelPack,
        images: Path,
        cache: EmbeddingCache,
        progress: Progress | None,
        pool: PoolType | None = None,
    ):
        self.pack = pack
        self.images = images
        self.cache = cache
        self.progress = progress
        self.pool = pool
        self.embedded = 0

    def _fill(
        self, variant: str, keys: list[str], work: Callable[[list[str]], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        have = self.cache.load(variant)
        missing = [k for k in keys if k not in have]
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            have.update(work(chunk))
            self.embedded += len(chunk)
            self.cache.save(variant, have)
            if self.progress:
                self.progress(variant, start + len(chunk), len(missing))
        return have

    def _map(
        self, here: Callable[[Any], np.ndarray], there: Callable[[Any], np.ndarray], jobs: list[Any]
    ) -> list[np.ndarray]:
        if self.pool is None:
            return [here(job) for job in jobs]
        return list(self.pool.imap(there, jobs, chunksize=4))

    def stills(self, keys: list[str]) -> dict[str, np.ndarray]:
        def work(chunk: list[str]) -> dict[str, np.ndarray]:
            pack = None if self.pool is not None else self.pack
            return embed_images(pack, self.images, chunk, pool=self.pool)[0]

        return self._fill("still", keys, work)

    def landmarks(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The clean detection's landmarks (LFW's typical ones where nothing was found)."""

        def work(chunk: list[str]) -> dict[str, np.ndarray]:
            def here(key: str) -> np.ndarray:
                return _landmarks_of(self.pack, _read(self.images / key))

            return dict(zip(chunk, self._map(here, _worker_landmarks, chunk), strict=True))

        return self._fill("landmarks", keys, work)

    def cctv(
        self, keys: list[str], face_px: int, marks: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Embeddings of the CCTV-like probes; a row of NaN where the detector found no face."""

        def work(chunk: list[str]) -> dict[str, np.ndarray]:
            jobs = [(key, marks[key], face_px) for key in chunk]

            def here(job: tuple[str, np.ndarray, int]) -> np.ndarray:
                return _cctv_vector(self.pack, _read(self.images / job[0]), job[1], job[2])

            return dict(zip(chunk, self._map(here, _worker_cctv, jobs), strict=True))

        return self._fill(f"cctv{face_px}", keys, work)


def _matrix(keys: Sequence[str], vectors: dict[str, np.ndarray]) -> np.ndarray:
    return (
        np.stack([np.asarray(vectors[k], np.float32) for k in keys]) if keys else np.empty((0, 1))
    )


def searches(
    design: HalfDesign, gallery: dict[str, np.ndarray], probes: dict[str, np.ndarray]
) -> Searches:
    """Scores of the design's probes against its gallery; a NaN probe (a miss) scores -inf."""
    g = _matrix(design.gallery, gallery)

    def scored(keys: Sequence[str]) -> np.ndarray:
        if not keys:
            return np.empty((0, g.shape[0]))
        p = _matrix(keys, probes)
        s = (p @ g.T).astype(np.float64)
        s[np.isnan(p).any(axis=1)] = -np.inf
        return s

    return Searches(scored(design.mated), np.array(design.mate, dtype=int), scored(design.nonmated))


@dataclass(frozen=True, slots=True)
class OpensetReport:
    pack: str
    sizes: tuple[int, ...]  # gallery sizes measured ("max" resolved)
    halves: dict[str, dict[str, int]]  # per half: gallery, mated, nonmated counts
    rows: tuple[OperatingRow, ...]
    growth: tuple[GrowthRow, ...]
    video_point: VideoPoint | None
    embedded: int  # images embedded in this run (the rest came from the cache)
    seconds: float
    cache: str
    conditions: dict[str, object] = field(default_factory=dict)
    early: EarlyReport | None = None  # the early-alert margin (vigil.evaluation.early)
    # gallery sizes below the largest, pooled over disjoint galleries (Searches.at(rotate=True))
    small: tuple[OperatingRow, ...] = ()
    # per gallery size: the video point chosen the same way (smallest face, FNIR rule)
    min_face_by_n: tuple[VideoPoint, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        data["video_point"] = self.video_point.to_dict() if self.video_point else None
        return json.dumps(data)


def run_openset(
    settings: Settings,
    pack: ModelPack,
    *,
    lfw: Path,
    cache_dir: Path,
    options: OpensetOptions,
    progress: Progress | None = None,
) -> OpensetReport:
    """Embed what the cache lacks, then measure both halves (see the module docstring)."""
    started = time.perf_counter()
    images = lfw_root(lfw) / "lfw-deepfunneled"
    designs = _designs(lfw_identities(images), options)
    room = min(len(d.gallery) for d in designs.values())
    sizes = tuple(sorted({min(room, n) if n else room for n in options.sizes}))
    work = _Embedder(pack, images, EmbeddingCache(cache_dir, pack.name, settings), progress)
    with _pooled(work, settings, options.workers):
        variants = _variants(work, designs, options)
    rows = tuple(
        operating_row(name, n, target, by_half["tune"], by_half["report"])
        for name, by_half in variants.items()
        for n in sizes
        for target in TARGETS
    )
    point = _video_point(pack.name, variants, options, sizes) if options.cctv else None
    small = tuple(
        operating_row(name, n, target, by_half["tune"], by_half["report"], rotate=True)
        for name, by_half in variants.items()
        for n in sizes
        if n < room
        for target in TARGETS
    )
    by_n = (
        tuple(_video_point(pack.name, variants, options, (n,), room) for n in sizes)
        if options.cctv
        else ()
    )
    rises = _growth(settings, pack.name, variants, sizes, point)
    early = _early(settings, pack.name, variants, sizes, options)
    return OpensetReport(
        pack=pack.name,
        sizes=sizes,
        halves={
            h: {"gallery": len(d.gallery), "mated": len(d.mated), "nonmated": len(d.nonmated)}
            for h, d in designs.items()
        },
        rows=rows,
        growth=tuple(rises),
        video_point=point,
        embedded=work.embedded,
        seconds=time.perf_counter() - started,
        cache=str(work.cache.folder),
        conditions=_conditions(options),
        early=early,
        small=small,
        min_face_by_n=by_n,
    )


def _conditions(options: OpensetOptions) -> dict[str, object]:
    return {
        "face_sizes": list(options.face_sizes),
        "jpeg_quality": JPEG_QUALITY,
        "blur_sigma_px": BLUR_SIGMA,
        "mated_per_id": options.mated_per_id,
        "nonmated": options.nonmated,
        "split": "sha256(name) first byte parity: even=tune, odd=report",
    }


def _designs(identities: dict[str, list[str]], options: OpensetOptions) -> dict[str, HalfDesign]:
    largest = max(options.sizes) if 0 not in options.sizes else len(identities)
    return {
        half: design_half(
            identities,
            half,
            gallery_size=largest,
            mated_per_id=options.mated_per_id,
            nonmated=options.nonmated,
        )
        for half in ("tune", "report")
    }


@contextmanager
def _pooled(work: _Embedder, settings: Settings, workers: int) -> Iterator[None]:
    """With ``workers`` > 1, ``work`` embeds in a pool of that many spawned processes (one pack
    each) for the duration of the block; otherwise here."""
    if workers <= 1:
        yield
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _start_worker, (settings, work.pack.name, work.images)) as pool:
        work.pool = pool
        try:
            yield
        finally:
            work.pool = None


def _variants(
    work: _Embedder, designs: dict[str, HalfDesign], options: OpensetOptions
) -> dict[str, dict[str, Searches]]:
    """Scores per variant ("clean", "cctv<px>") and half; embeds what the cache lacks."""
    keys = sorted(set().union(*(d.keys for d in designs.values())))
    still = work.stills(keys)
    variants = {"clean": {h: searches(d, still, still) for h, d in designs.items()}}
    if options.cctv:
        probes = sorted(set().union(*(set(d.mated) | set(d.nonmated) for d in designs.values())))
        marks = work.landmarks(probes)
        for face_px in options.face_sizes:
            shrunk = work.cctv(probes, face_px, marks)
            variants[f"cctv{face_px}"] = {h: searches(d, still, shrunk) for h, d in designs.items()}
    return variants


def _ladder(searches: Searches, sizes: tuple[int, ...]) -> list[int]:
    return sorted({n for n in (1, 10, 100, 1000, *sizes) if n <= searches.gallery_size})


def _growth(
    settings: Settings,
    pack: str,
    variants: dict[str, dict[str, Searches]],
    sizes: tuple[int, ...],
    point: VideoPoint | None,
) -> list[GrowthRow]:
    """Clean FNIR as the gallery grows at the configured and a tuned threshold, then CCTV-like
    probes at the video threshold when ``point`` was chosen."""
    clean = variants["clean"]
    report = clean["report"]
    ladder = _ladder(report, sizes)
    fixed = [(getattr(settings, pack).threshold, "configured threshold")]
    small = min(ladder, key=lambda n: abs(n - 100))
    tuned = threshold_at_fpir(clean["tune"].at(small).nonmated_top, 0.001)
    fixed.append((tuned, f"FPIR 0.1% tuned at N={small}"))
    rises = [row for t, label in fixed for row in growth(report, t, label, ladder)]
    if point is not None:
        cctv = variants[f"cctv{point.min_face_px}"]["report"]
        label = f"video threshold, CCTV-like {point.min_face_px} px faces"
        rises += growth(cctv, point.threshold, label, _ladder(cctv, sizes))
    return rises


def _video_point(
    pack: str,
    variants: dict[str, dict[str, Searches]],
    options: OpensetOptions,
    sizes: tuple[int, ...],
    room: int | None = None,
) -> VideoPoint:
    """The video point at ``video_n`` (the largest measured size if smaller); with ``room``
    (the whole gallery's size) at ``sizes``' only size, pooled over disjoint galleries below it."""
    n = min(options.video_n, max(sizes)) if room is None else sizes[0]
    tune = {px: variants[f"cctv{px}"]["tune"] for px in options.face_sizes}
    report = {px: variants[f"cctv{px}"]["report"] for px in options.face_sizes}
    return choose_video_point(
        pack,
        tune,
        report,
        target_fpir=options.video_fpir,
        n=n,
        max_fnir=options.video_max_fnir,
        rotate=room is not None and n < room,
    )


def _early(
    settings: Settings,
    pack: str,
    variants: dict[str, dict[str, Searches]],
    sizes: tuple[int, ...],
    options: OpensetOptions,
) -> EarlyReport:
    """The early-alert margin at the pack's configured threshold, at the video gallery size:
    chosen on the tuning half over the faces a camera decides on (clean, and CCTV-like sizes at
    least the pack's ``video_min_face_px``), reported for every variant."""
    config = getattr(settings, pack)
    gated = [f"cctv{px}" for px in options.face_sizes if px >= config.video_min_face_px]
    return measure_early(
        {v: by_half["tune"] for v, by_half in variants.items()},
        {v: by_half["report"] for v, by_half in variants.items()},
        threshold=config.threshold,
        n=min(options.video_n, max(sizes)),
        tries=settings.tracking.best_shots,
        target_fpir=options.video_fpir,
        chosen_on=["clean", *(v for v in gated if v in variants)],
        configured_margin=config.early_margin,  # the pack's own (dlib.early_margin...)
    )
