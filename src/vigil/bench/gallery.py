"""Gallery index benchmark: build time, p50/p99 search, recall@1 against exact search, RSS.

    vigil bench gallery --size 1000000 --dim 128 [--index auto|numpy|hnsw|usearch|ivf|pqfs|faiss]
        [--hnsw-m 16 --hnsw-ef-search 64 ...] [--seed 0] [--json]

The gallery is synthetic but shaped like a face gallery: ``size`` templates, two per subject
(an anisotropic Gaussian calibrated on LFW embeddings, see ``MEAN_NORM`` below), spread over
``authorizations`` authorizations of which the last is scoped to another camera, so one in
``authorizations`` entries is filtered out of every probe. Probes are new noisy shots of
enrolled subjects. It is built the way the service builds it: batches of ``batch`` entries
added to a :class:`~vigil.faces.gallery.FilteredGallery`. Searches run one probe at a time
on one core (the process is pinned to one CPU while searching); recall@1 compares the top-1
with an exact brute-force search over the same allowed entries. Data is generated batch by
batch from fixed seeds so that ground truth needs no second copy of the gallery in memory.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from vigil.config import OnnxConfig
from vigil.faces.gallery import FilteredGallery, GallerySnapshot
from vigil.faces.index import ANN_KINDS, IndexPolicy
from vigil.pipeline.matcher import Matcher
from vigil.types import Embedding, GalleryEntry

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CAMERA = "cam-a"
# The shape of real face embeddings, measured on LFW with the onnx pack (mobilefacenet, 128-d;
# scripts/calibrate_gallery_shape.py): not uniform on the sphere but an anisotropic Gaussian
# around a common mean. Identity centres take BETWEEN of the variance and each shot WITHIN,
# with eigenvalues falling as i**-alpha, and each shot's noise scaled by exp(N(0, SPREAD)) (some
# photos are much worse). This gives same-subject cosine 0.60 +- 0.14 and different-subject
# 0.015 +- 0.10 at 128-d (LFW: 0.62 +- 0.13 and 0.015 +- 0.10).
MEAN_NORM = 0.126
BETWEEN, BETWEEN_ALPHA = 0.62, 0.45
WITHIN, WITHIN_ALPHA = 0.38, 0.28
SPREAD = 0.4


@dataclass(frozen=True, slots=True)
class GalleryBenchConfig:
    size: int
    dim: int
    index: str = "auto"
    probes: int = 1000
    authorizations: int = 4
    batch: int = 10_000
    exact_below: int = 20_000
    tuning: dict[str, Any] = field(default_factory=dict)  # IndexPolicy fields (hnsw_m, ...)
    policy: IndexPolicy | None = None
    seed: int = 0
    # recall_at_1_alerting counts probes whose exact best clears this: the onnx pack's default
    # video threshold, the pack the synthetic shape is calibrated on.
    alert_threshold: float = field(default_factory=lambda: OnnxConfig().threshold)


@dataclass(frozen=True, slots=True)
class GalleryFigures:
    size: int
    dim: int
    index: str
    index_kinds: list[str]
    policy: dict[str, object]
    allowed_fraction: float
    build_seconds: float
    build_cpu_seconds: float
    search_p50_ms: float  # wall clock
    search_p99_ms: float
    search_cpu_p50_ms: float  # CPU time of the searching thread (robust on a shared machine)
    search_cpu_p99_ms: float
    match_cpu_p50_ms: float  # Matcher.match (search + one result per subject), CPU time
    match_cpu_p99_ms: float
    recall_at_1: float  # probes of allowed enrolled subjects (what the system may match)
    recall_at_1_all: float  # every probe, also those whose nearest allowed entry is a stranger
    recall_at_1_alerting: float  # probes whose exact best allowed score clears alert_threshold
    alerting_probes: int  # how many probes that is
    probes: int
    rss_mb: float
    rss_gallery_mb: float  # RSS growth while building (the gallery's own memory)
    peak_rss_mb: float
    cpu_count: int
    load_average: list[float]

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


BLOCK = 1024  # subjects per RNG stream


def _spectrum(dim: int, alpha: float, total: float) -> np.ndarray:
    """Standard deviations along each axis: variances falling as i**-alpha, summing to total."""
    variances = np.arange(1, dim + 1, dtype=np.float64) ** -alpha
    return np.sqrt(variances / variances.sum() * total).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _basis(seed: int, dim: int) -> np.ndarray:
    """A fixed random rotation, so that the structure is not aligned with the axes."""
    q, _ = np.linalg.qr(np.random.default_rng((seed, 9)).standard_normal((dim, dim)))
    return q.astype(np.float32)


def _centres(cfg: GalleryBenchConfig, subjects: np.ndarray) -> np.ndarray:
    """Deterministic centre of each subject id (one RNG stream per block of subjects)."""
    out = np.empty((subjects.shape[0], cfg.dim), np.float32)
    blocks = subjects // BLOCK
    for block in np.unique(blocks).tolist():
        rows = np.nonzero(blocks == block)[0]
        rng = np.random.default_rng((cfg.seed, 0, block))
        out[rows] = rng.standard_normal((BLOCK, cfg.dim), np.float32)[subjects[rows] % BLOCK]
    out *= _spectrum(cfg.dim, BETWEEN_ALPHA, BETWEEN)
    out[:, 0] += MEAN_NORM
    return out


def _shots(cfg: GalleryBenchConfig, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit-length shots of these centres: within-subject noise, rotated by the basis."""
    noise = rng.standard_normal(centres.shape, np.float32)
    noise *= _spectrum(cfg.dim, WITHIN_ALPHA, WITHIN)
    noise *= np.exp(rng.normal(0.0, SPREAD, (centres.shape[0], 1))).astype(np.float32)
    vectors = (centres + noise) @ _basis(cfg.seed, cfg.dim)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _batch(cfg: GalleryBenchConfig, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Template ids [start, start+batch) and their unit vectors (two shots per subject)."""
    ids = np.arange(start, min(start + cfg.batch, cfg.size), dtype=np.int64)
    rng = np.random.default_rng((cfg.seed, 1, start))
    return ids, _shots(cfg, _centres(cfg, ids // 2), rng)


def _entries(cfg: GalleryBenchConfig, ids: np.ndarray) -> list[GalleryEntry]:
    scoped = cfg.authorizations - 1  # this authorization covers another camera only
    out = []
    for t in ids.tolist():
        auth = (t // 2) % cfg.authorizations
        out.append(
            GalleryEntry(
                template_id=t,
                subject_id=t // 2,
                subject_name=f"s{t // 2}",
                watchlist_id=auth,
                watchlist_name=f"wl{auth}",
                authorization_id=auth,
                authorization_reference=f"ORD-{auth}",
                valid_from=NOW - timedelta(days=1),
                expires_at=NOW + timedelta(days=30),
                cameras=("cam-b",) if auth == scoped and cfg.authorizations > 1 else None,
            )
        )
    return out


def _allowed(cfg: GalleryBenchConfig, ids: np.ndarray) -> np.ndarray:
    if cfg.authorizations == 1:
        return np.ones(ids.shape[0], bool)
    return ((ids // 2) % cfg.authorizations) != cfg.authorizations - 1


def _probe_subjects(cfg: GalleryBenchConfig) -> np.ndarray:
    return np.random.default_rng((cfg.seed, 2)).integers(0, max(cfg.size // 2, 1), cfg.probes)


def _probes(cfg: GalleryBenchConfig) -> np.ndarray:
    rng = np.random.default_rng((cfg.seed, 3))
    return _shots(cfg, _centres(cfg, _probe_subjects(cfg)), rng)


def _exact_top1(cfg: GalleryBenchConfig, probes: np.ndarray) -> np.ndarray:
    return _exact_best(cfg, probes)[0]


def _exact_best(cfg: GalleryBenchConfig, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each probe's exact best allowed template id and its score (brute force, batch by batch)."""
    best = np.full(probes.shape[0], -np.inf, np.float32)
    best_id = np.full(probes.shape[0], -1, np.int64)
    for start in range(0, cfg.size, cfg.batch):
        ids, vectors = _batch(cfg, start)
        keep = _allowed(cfg, ids)
        if not keep.any():
            continue
        scores = probes @ vectors[keep].T
        top = scores.argmax(axis=1)
        value = scores[np.arange(probes.shape[0]), top]
        better = value > best
        best[better], best_id[better] = value[better], ids[keep][top[better]]
    return best_id, best


def alert_recall(top1: np.ndarray, truth: np.ndarray, best: np.ndarray, threshold: float) -> float:
    """Recall@1 over the probes whose exact best allowed score clears ``threshold``: the probes
    that can raise an alert (1.0 when there are none)."""
    relevant = best >= threshold
    return round(float((top1 == truth)[relevant].mean()), 4) if relevant.any() else 1.0


def _policy(cfg: GalleryBenchConfig) -> IndexPolicy:
    """``hnsw``/``ivf`` as the product runs them: ``auto`` with that ANN above exact_below."""
    if cfg.index in ANN_KINDS:
        policy = IndexPolicy(kind="auto", ann=cfg.index, exact_below=cfg.exact_below)
    else:
        policy = IndexPolicy(kind=cfg.index, exact_below=cfg.exact_below)
    return dataclasses.replace(policy, **cfg.tuning)


class _Static:
    def __init__(self, snap: GallerySnapshot) -> None:
        self.snap = snap

    def snapshot(self) -> GallerySnapshot:
        return self.snap


def run_gallery_bench(cfg: GalleryBenchConfig) -> GalleryFigures:
    """Build the gallery, time searches on one core, compare with exact search."""
    policy = cfg.policy or _policy(cfg)
    probes = _probes(cfg)
    rss0 = _rss_mb()
    gallery = FilteredGallery(policy)
    started, started_cpu = time.perf_counter(), time.process_time()
    for start in range(0, cfg.size, cfg.batch):
        ids, vectors = _batch(cfg, start)
        gallery.add(_entries(cfg, ids), vectors)
    build, build_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    rss_gallery = _rss_mb() - rss0
    search_ms, search_cpu, match_cpu, top1 = _time_searches(gallery, probes)
    truth, best = _exact_best(cfg, probes)
    enrolled = _allowed(cfg, _probe_subjects(cfg) * 2)
    kinds = sorted({type(p.index).__name__ for p in gallery._parts.values()})
    return GalleryFigures(
        size=cfg.size,
        dim=cfg.dim,
        index=cfg.index,
        index_kinds=kinds,
        policy=asdict(policy),
        allowed_fraction=float(_allowed(cfg, np.arange(min(cfg.size, 100_000))).mean()),
        build_seconds=round(build, 2),
        build_cpu_seconds=round(build_cpu, 2),
        search_p50_ms=_pct(search_ms, 50),
        search_p99_ms=_pct(search_ms, 99),
        search_cpu_p50_ms=_pct(search_cpu, 50),
        search_cpu_p99_ms=_pct(search_cpu, 99),
        match_cpu_p50_ms=_pct(match_cpu, 50),
        match_cpu_p99_ms=_pct(match_cpu, 99),
        recall_at_1=round(float((top1 == truth)[enrolled].mean()), 4) if enrolled.any() else 1.0,
        recall_at_1_all=round(float((top1 == truth).mean()), 4),
        recall_at_1_alerting=alert_recall(top1, truth, best, cfg.alert_threshold),
        alerting_probes=int((best >= cfg.alert_threshold).sum()),
        probes=cfg.probes,
        rss_mb=round(_rss_mb(), 1),
        rss_gallery_mb=round(rss_gallery, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        cpu_count=os.cpu_count() or 0,
        load_average=[round(x, 2) for x in os.getloadavg()],
    )


def _pct(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def _time_searches(
    gallery: FilteredGallery, probes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-probe search wall/CPU and match CPU times (ms) on one pinned core; top-1 ids."""
    matcher = Matcher(_Static(GallerySnapshot.of(gallery, 0.3, "bench")), top_k=3)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    times = np.empty((3, probes.shape[0]))
    top1 = np.full(probes.shape[0], -1, np.int64)
    try:
        for i, probe in enumerate(probes):
            w0, c0 = time.perf_counter(), time.thread_time()
            hits = gallery.search(probe, CAMERA, NOW, 12)
            w1, c1 = time.perf_counter(), time.thread_time()
            matcher.match([Embedding(probe, "bench")], CAMERA, NOW)
            c2 = time.thread_time()
            times[:, i] = ((w1 - w0) * 1e3, (c1 - c0) * 1e3, (c2 - c1) * 1e3)
            top1[i] = hits[0].entry.template_id if hits else -1
    finally:
        os.sched_setaffinity(0, cpus)
    return times[0], times[1], times[2], top1
