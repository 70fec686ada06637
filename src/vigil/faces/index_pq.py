"""Product-quantized full scan with exact re-rank (``matching.index: pqfs``).

:class:`PqfsIdIndex` scans every code of a faiss ``IndexPQFastScan`` (``IndexPolicy.pq_m``
sub-quantizers of 4 bits: 32 bytes per 128-d or 512-d template) for the ``pq_rerank`` best
candidates, then re-ranks them exactly against the stored float16 vectors (inner product on
unit vectors = cosine, as every other index). A full scan has no graph or list to miss the true
neighbour, so recall holds at 1M entries per partition where HNSW and IVF lost it (README
"Gallery index"); its cost grows linearly with the partition but is a few ms at 1M.

Rows are kept in insertion order (faiss row ``i`` is ``self._ids[i]``). Removal is a tombstone
(``self._dead``): a dead row is dropped before the re-rank, so it is never returned, and the
scan asks for proportionally more candidates; when tombstones exceed
``pq_rebuild_fraction`` of the rows the live rows are compacted and re-encoded. Below
``pq_train_min`` entries nothing is trained and search is exact over the float16 vectors; the
quantizer is trained on up to ``pq_train_sample`` vectors and retrained (all codes re-encoded)
each time the partition has grown fourfold since, until that sample size is reached.
Pickles with the faiss index serialized (snapshots, Ray actors).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.faces.index_base import IdIndex, IndexPolicy, SearchResult

ENCODE_CHUNK = 65_536  # rows converted to float32 at a time when (re-)encoding
GROWTH_TO_RETRAIN = 4  # retrain once the rows reach this multiple of those trained on


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ConfigError(
            "matching.index",
            "is 'pqfs' (or auto at its size) but the faiss package is not installed",
            hint="run `pip install 'faiss-cpu>=1.8'` (a dependency of vigil), or set "
            "matching.index: numpy",
        ) from exc
    return faiss


def sub_quantizers(dim: int, wanted: int) -> int:
    """The largest divisor of ``dim`` that is at most ``wanted`` (PQ splits dim evenly)."""
    return max(m for m in range(1, max(1, min(dim, wanted)) + 1) if dim % m == 0)


class PqfsIdIndex(IdIndex):
    """faiss ``IndexPQFastScan`` over all rows, exact float16 re-rank of the best candidates."""

    def __init__(self, dim: int, policy: IndexPolicy) -> None:
        super().__init__(dim)
        _faiss()
        self._policy = policy
        self._vectors = np.zeros((16, dim), np.float16)
        self._ids = np.zeros(16, np.int64)
        self._dead = np.zeros(16, bool)
        self._row: dict[int, int] = {}
        self._n = 0  # rows used, live or dead
        self._pq: Any = None  # the trained faiss index, None until pq_train_min entries
        self._trained_on = 0

    def __len__(self) -> int:
        return len(self._row)

    @property
    def tombstones(self) -> int:
        return self._n - len(self._row)

    @property
    def trained(self) -> bool:
        return self._pq is not None

    def _grow(self, need: int) -> None:
        if need <= self._ids.shape[0]:
            return
        cap = max(need, 2 * self._ids.shape[0])
        vectors = np.zeros((cap, self.dim), np.float16)
        vectors[: self._n] = self._vectors[: self._n]
        ids, dead = np.zeros(cap, np.int64), np.zeros(cap, bool)
        ids[: self._n], dead[: self._n] = self._ids[: self._n], self._dead[: self._n]
        self._vectors, self._ids, self._dead = vectors, ids, dead

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, matrix = self._check(ids, vectors)
        if not ids.shape[0]:
            return
        self._tombstone(i for i in ids.tolist() if i in self._row)
        start, end = self._n, self._n + ids.shape[0]
        self._grow(end)
        self._vectors[start:end] = matrix
        self._ids[start:end] = ids
        self._dead[start:end] = False
        self._row.update(zip(ids.tolist(), range(start, end), strict=True))
        self._n = end
        if self._wants_training():
            self._rebuild(retrain=True)
        elif self._pq is not None:
            self._encode(self._pq, start, end)
        self._maybe_compact()

    def _wants_training(self) -> bool:
        live, policy = len(self._row), self._policy
        if self._pq is None:
            return live >= policy.pq_train_min
        return (
            self._trained_on < policy.pq_train_sample
            and live >= GROWTH_TO_RETRAIN * self._trained_on
        )

    def remove(self, ids: Iterable[int]) -> None:
        self._tombstone(ids)
        self._maybe_compact()

    def _tombstone(self, ids: Iterable[int]) -> None:
        for ident in ids:
            row = self._row.pop(int(ident), None)
            if row is not None:
                self._dead[row] = True

    def _maybe_compact(self) -> None:
        if self.tombstones and self.tombstones > self._policy.pq_rebuild_fraction * self._n:
            self._rebuild(retrain=False)

    def _rebuild(self, *, retrain: bool) -> None:
        """Drop dead rows (order kept) and re-encode every live row, training first if asked."""
        keep = np.flatnonzero(~self._dead[: self._n])
        self._vectors[: keep.shape[0]] = self._vectors[keep]
        self._ids[: keep.shape[0]] = self._ids[keep]
        self._dead[: self._n] = False
        self._n = keep.shape[0]
        self._row = dict(zip(self._ids[: self._n].tolist(), range(self._n), strict=True))
        if self._pq is None and not retrain:
            return
        faiss = _faiss()
        faiss.omp_set_num_threads(self._policy.build_threads)
        pq = self._pq
        if retrain:
            pq = faiss.IndexPQFastScan(
                self.dim, sub_quantizers(self.dim, self._policy.pq_m), 4, faiss.METRIC_INNER_PRODUCT
            )
            pq.train(self._training_sample())
            self._trained_on = min(self._n, self._policy.pq_train_sample)
        else:
            pq.reset()
        self._encode(pq, 0, self._n)
        self._pq = pq

    def _training_sample(self) -> np.ndarray:
        size = min(self._n, self._policy.pq_train_sample)
        rows = np.random.default_rng(0).choice(self._n, size, replace=False)
        return np.ascontiguousarray(self._vectors[np.sort(rows)], np.float32)

    def _encode(self, pq: Any, start: int, end: int) -> None:
        _faiss().omp_set_num_threads(self._policy.build_threads)
        for lo in range(start, end, ENCODE_CHUNK):
            hi = min(end, lo + ENCODE_CHUNK)
            pq.add(np.ascontiguousarray(self._vectors[lo:hi], np.float32))

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        k = min(k, len(self._row))
        if k <= 0:
            return SearchResult.empty()
        query = np.asarray(probe, np.float32).reshape(-1)
        rows = self._candidates(query, k) if self._pq is not None else None
        if rows is None:  # untrained, or too many candidates were tombstones: exact
            rows = np.flatnonzero(~self._dead[: self._n])
        scores = self._vectors[rows].astype(np.float32) @ query
        top = np.argpartition(-scores, k - 1)[:k] if k < rows.shape[0] else np.arange(len(rows))
        top = top[np.argsort(-scores[top], kind="stable")]
        return SearchResult(self._ids[rows[top]].copy(), scores[top].astype(np.float32))

    def _candidates(self, query: np.ndarray, k: int) -> np.ndarray | None:
        """Live rows among the scan's best, at least ``k`` of them, or None (search exactly)."""
        wanted = max(k, self._policy.pq_rerank)
        scan = min(self._n, -(-wanted * self._n // len(self._row)))  # more when rows are dead
        faiss = _faiss()
        faiss.omp_set_num_threads(self._policy.search_threads)
        _, found = self._pq.search(query[None, :], scan)
        rows = found[0]
        rows = rows[rows >= 0]
        rows = rows[~self._dead[rows]]
        return rows if rows.shape[0] >= k else None

    def ids(self) -> np.ndarray:
        return self._ids[: self._n][~self._dead[: self._n]].copy()

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        rows = [self._row[int(i)] for i in ids]
        return self._vectors[rows].astype(np.float32).reshape(len(rows), self.dim)

    def __getstate__(self) -> dict[str, Any]:
        n = self._n  # pickling a slice writes only its rows (no copy of the whole array)
        return {
            "dim": self.dim,
            "policy": self._policy,
            "vectors": self._vectors[:n],
            "ids": self._ids[:n],
            "dead": self._dead[:n],
            "pq": None if self._pq is None else _faiss().serialize_index(self._pq),
            "trained_on": self._trained_on,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dim, self._policy = state["dim"], state["policy"]
        # zero-copy unpickling (Ray's object store) gives read-only arrays: removal writes
        self._vectors, self._ids, self._dead = (
            a if a.flags.writeable else a.copy()
            for a in (state["vectors"], state["ids"], state["dead"])
        )
        self._n = int(self._ids.shape[0])
        live = np.flatnonzero(~self._dead)
        self._row = dict(zip(self._ids[live].tolist(), live.tolist(), strict=True))
        blob = state["pq"]
        self._pq = None if blob is None else _faiss().deserialize_index(blob)
        self._trained_on = state["trained_on"]
