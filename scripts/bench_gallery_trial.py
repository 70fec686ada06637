"""Index trial for the gallery: build each candidate once, then sweep its search parameter.

    python scripts/bench_gallery_trial.py --size 100000 --dim 128 --seed 1 \
        --trial usearch:f16:16:100 --trial hnsw:16:100 --trial ivf:1024 --trial pqfs:64 \
        --ef 32,64,128,256 --nprobe 8,16,32,64 --rerank 32,64 [--probes 500] [--json out.json]

Uses the synthetic face-shaped gallery of ``vigil bench gallery`` (same seeds, same partitions
by authorization, one of them out of scope) and the product's index classes inside a
:class:`~vigil.faces.gallery.FilteredGallery`, built the way the service builds it. Each trial
is built once (``build_seconds``/``build_cpu_seconds``, RSS growth); then for each search
setting (HNSW ``ef``, IVF ``nprobe``, pqfs ``rerank``: candidates re-ranked exactly) it times
every probe on one pinned core and compares the top-1 with exact search over the same allowed
entries. ``faiss-hnsw:M:efc`` is faiss ``IndexHNSWFlat`` per partition, for the record only
(it cannot remove by id, so the product cannot use it). Tune on one ``--seed``, report on
another. Prints one JSON line per setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vigil.bench import gallery as bench
from vigil.faces.gallery import FilteredGallery
from vigil.faces.index import (
    ExactIdIndex,
    FaissIvfIdIndex,
    HnswIdIndex,
    IdIndex,
    IndexPolicy,
    SearchResult,
    UsearchIdIndex,
)
from vigil.faces.index_pq import PqfsIdIndex


class _FaissHnsw(IdIndex):
    """faiss IndexHNSWFlat over one partition (add only; for the trial)."""

    def __init__(self, dim: int, m: int, efc: int) -> None:
        super().__init__(dim)
        import faiss

        self._index: Any = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = efc
        self._ids = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, np.float32))
        self._ids = np.concatenate([self._ids, ids])

    def remove(self, ids: Any) -> None:
        raise NotImplementedError("faiss HNSW cannot remove by id")

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        scores, rows = self._index.search(probe[None, :], k)
        keep = rows[0] >= 0
        return SearchResult(self._ids[rows[0][keep]], scores[0][keep])

    def ids(self) -> np.ndarray:
        return self._ids

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _policy(spec: str, threads: int) -> tuple[IndexPolicy, str]:
    kind, *args = spec.split(":")
    base = IndexPolicy(kind=kind if kind != "faiss-hnsw" else "numpy", build_threads=threads)
    if kind == "usearch":
        dtype, m, efc = args
        return dataclasses.replace(
            base, usearch_dtype=dtype, hnsw_m=int(m), hnsw_ef_construction=int(efc)
        ), kind
    if kind in ("hnsw", "faiss-hnsw"):
        m, efc = args
        return dataclasses.replace(base, hnsw_m=int(m), hnsw_ef_construction=int(efc)), kind
    if kind == "ivf":
        return dataclasses.replace(base, ivf_lists=int(args[0])), kind
    if kind == "pqfs":
        return dataclasses.replace(base, pq_m=int(args[0]) if args else base.pq_m), kind
    raise SystemExit(
        f"unknown trial {spec!r}: use usearch:DTYPE:M:EFC, hnsw:M:EFC, ivf:LISTS, pqfs[:M]"
    )


def _build(cfg: bench.GalleryBenchConfig, policy: IndexPolicy, kind: str) -> FilteredGallery:
    gallery = FilteredGallery(policy)
    for start in range(0, cfg.size, cfg.batch):
        ids, vectors = bench._batch(cfg, start)
        gallery.add(bench._entries(cfg, ids), vectors)
    if kind == "faiss-hnsw":  # rebuild each partition as faiss HNSW
        for part in gallery._parts.values():
            ids = part.index.ids()
            index = _FaissHnsw(cfg.dim, policy.hnsw_m, policy.hnsw_ef_construction)
            index.add(ids, part.index.vectors_of(ids))
            part.index = index
    return gallery


def _set_search(gallery: FilteredGallery, kind: str, value: int) -> None:
    for part in gallery._parts.values():
        index = part.index
        if isinstance(index, (HnswIdIndex, UsearchIdIndex)):
            index._policy = dataclasses.replace(index._policy, hnsw_ef_search=value)
        elif isinstance(index, FaissIvfIdIndex):
            index._index.nprobe = value
        elif isinstance(index, PqfsIdIndex):
            index._policy = dataclasses.replace(index._policy, pq_rerank=value)
        elif isinstance(index, _FaissHnsw):
            index._index.hnsw.efSearch = value
        elif not isinstance(index, ExactIdIndex):
            raise TypeError(type(index))


def _snapshot_round_trip(gallery: FilteredGallery, path: Path, spec: str) -> FilteredGallery:
    """Seal and write the gallery as the command center does, then read, open and load it;
    prints the seconds of each half and the file size; returns the loaded gallery."""
    from vigil.accountability.crypto import DataCipher

    cipher = DataCipher(os.urandom(32))
    wall, cpu = time.perf_counter(), time.process_time()
    sealed = cipher.seal(gallery.dump(None), b"bench")
    path.write_bytes(sealed)
    save = (time.perf_counter() - wall, time.process_time() - cpu)
    size_mb = len(sealed) / 2**20
    del sealed, gallery
    wall, cpu = time.perf_counter(), time.process_time()
    _, loaded = FilteredGallery.load(cipher.open(path.read_bytes(), b"bench"))
    load = (time.perf_counter() - wall, time.process_time() - cpu)
    path.unlink()
    print(
        json.dumps(
            {
                "trial": spec,
                "snapshot_mb": round(size_mb, 1),
                "save_seconds": round(save[0], 2),
                "save_cpu_seconds": round(save[1], 2),
                "load_seconds": round(load[0], 2),
                "load_cpu_seconds": round(load[1], 2),
                "rss_after_load_mb": round(bench._rss_mb(), 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        ),
        flush=True,
    )
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument(
        "--authorizations", type=int, default=4, help="partitions (the last is out of scope)"
    )
    parser.add_argument("--trial", action="append", required=True)
    parser.add_argument("--ef", default="32,64,128,256")
    parser.add_argument("--nprobe", default="8,16,32,64")
    parser.add_argument("--rerank", default="64", help="pqfs: candidates re-ranked exactly")
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument(
        "--exact-below",
        type=int,
        default=0,
        help="a partition stays exact until it holds this many entries, then becomes the trial's "
        "index (IVF trains on those entries: give it about 39 x lists)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--snapshot",
        type=Path,
        help="also time a sealed snapshot of each build: save to this file, load it back",
    )
    args = parser.parse_args()
    cfg = bench.GalleryBenchConfig(
        args.size, args.dim, probes=args.probes, authorizations=args.authorizations, seed=args.seed
    )
    probes = bench._probes(cfg)
    truth, best = bench._exact_best(cfg, probes)
    enrolled = bench._allowed(cfg, bench._probe_subjects(cfg) * 2)
    try:
        import faiss

        faiss.omp_set_num_threads(args.build_threads)
    except ImportError:
        pass
    rows = []
    for spec in args.trial:
        policy, kind = _policy(spec, args.build_threads)
        policy = dataclasses.replace(policy, exact_below=args.exact_below)
        if args.exact_below and kind in ("usearch", "hnsw", "ivf", "pqfs"):  # as `auto` runs it
            policy = dataclasses.replace(policy, kind="auto", ann=kind)
        rss0 = bench._rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        gallery = _build(cfg, policy, kind)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss = bench._rss_mb() - rss0
        if args.snapshot:
            gallery = _snapshot_round_trip(gallery, args.snapshot, spec)
        sweep = {"ivf": args.nprobe, "pqfs": args.rerank}.get(kind, args.ef)
        for value in [int(v) for v in sweep.split(",")]:
            _set_search(gallery, kind, value)
            search_ms, search_cpu, _, top1 = bench._time_searches(gallery, probes)
            row = {
                "trial": spec,
                "search_param": value,
                "size": cfg.size,
                "dim": cfg.dim,
                "seed": cfg.seed,
                "build_seconds": round(wall, 1),
                "build_cpu_seconds": round(cpu, 1),
                "rss_gallery_mb": round(rss, 1),
                "recall_at_1": round(float((top1 == truth)[enrolled].mean()), 4),
                "recall_at_1_alerting": bench.alert_recall(top1, truth, best, cfg.alert_threshold),
                "alerting_probes": int((best >= cfg.alert_threshold).sum()),
                "search_p50_ms": bench._pct(search_ms, 50),
                "search_p99_ms": bench._pct(search_ms, 99),
                "search_cpu_p50_ms": bench._pct(search_cpu, 50),
                "search_cpu_p99_ms": bench._pct(search_cpu, 99),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        del gallery
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
