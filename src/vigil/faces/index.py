"""Incremental nearest-neighbour indexes keyed by template id (cosine = inner product).

An :class:`IdIndex` holds unit vectors under integer ids and changes in place: :meth:`add`
and :meth:`remove` by id, no rebuild. The kinds, chosen by :class:`IndexPolicy` (the interface
and the policy live in :mod:`vigil.faces.index_base`, re-exported here):

- :class:`ExactIdIndex`: one matrix-vector product over the live rows (numpy); exact, and the
  fastest below ``IndexPolicy.exact_below`` entries (measured: README "Gallery index").
- :class:`HnswIdIndex`: hnswlib HNSW graph; deletions are tombstones reused by later inserts.
- :class:`FaissIdIndex`: exact faiss ``IndexFlatIP`` under an id map (``matching.index: faiss``).
- :class:`~vigil.faces.index_pq.PqfsIdIndex`: faiss 4-bit PQ fast scan of every code, exact
  float16 re-rank of the best 64 (``matching.index: pqfs``, and ``auto``'s choice from
  ``IndexPolicy.exact_below`` entries: the only kind that kept recall@1 >= 0.99 at 1M).

All are picklable (the Ray runtime ships a gallery snapshot to remote actors).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.faces.index_base import (
    ANN_KINDS,
    IdIndex,
    IndexPolicy,
    SearchResult,
    as_ids,
    as_matrix,
)
from vigil.faces.index_pq import PqfsIdIndex

__all__ = [
    "ANN_KINDS",
    "INDEX_KINDS",
    "ExactIdIndex",
    "FaissIdIndex",
    "FaissIvfIdIndex",
    "HnswIdIndex",
    "IdIndex",
    "IndexPolicy",
    "PqfsIdIndex",
    "SearchResult",
    "UsearchIdIndex",
    "ann_from",
    "as_ids",
    "as_matrix",
    "new_index",
]


class ExactIdIndex(IdIndex):
    """Exact search over a growable matrix; removal moves the last row into the gap."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._vectors = np.zeros((16, dim), np.float32)
        self._ids = np.zeros(16, np.int64)
        self._row: dict[int, int] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _grow(self, need: int) -> None:
        if need <= self._ids.shape[0]:
            return
        cap = max(need, 2 * self._ids.shape[0])
        vectors = np.zeros((cap, self.dim), np.float32)
        vectors[: self._n] = self._vectors[: self._n]
        ids = np.zeros(cap, np.int64)
        ids[: self._n] = self._ids[: self._n]
        self._vectors, self._ids = vectors, ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, matrix = self._check(ids, vectors)
        self.remove(i for i in ids.tolist() if i in self._row)
        self._grow(self._n + ids.shape[0])
        end = self._n + ids.shape[0]
        self._vectors[self._n : end] = matrix
        self._ids[self._n : end] = ids
        self._row.update(zip(ids.tolist(), range(self._n, end), strict=True))
        self._n = end

    def remove(self, ids: Iterable[int]) -> None:
        for ident in ids:
            row = self._row.pop(int(ident), None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                moved = int(self._ids[last])
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._n = last

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        k = min(k, self._n)
        if k <= 0:
            return SearchResult.empty()
        scores = self._vectors[: self._n] @ np.asarray(probe, np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < self._n else np.arange(self._n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return SearchResult(self._ids[top].copy(), scores[top].astype(np.float32))

    def ids(self) -> np.ndarray:
        return self._ids[: self._n].copy()

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        rows = [self._row[int(i)] for i in ids]
        return self._vectors[rows].copy()


class HnswIdIndex(IdIndex):
    """hnswlib HNSW (``space='ip'``); removed ids are tombstones whose slots inserts reuse."""

    def __init__(self, dim: int, policy: IndexPolicy, capacity: int = 1024) -> None:
        super().__init__(dim)
        import hnswlib

        self._policy = policy
        self._index: Any = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(capacity, 16),
            M=policy.hnsw_m,
            ef_construction=policy.hnsw_ef_construction,
            allow_replace_deleted=True,
        )
        self._index.set_num_threads(1)
        self._live: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, matrix = self._check(ids, vectors)
        if not ids.shape[0]:
            return
        self.remove(i for i in ids.tolist() if i in self._live)
        deleted = self._index.get_current_count() - len(self._live)
        need = self._index.get_current_count() + ids.shape[0] - min(deleted, ids.shape[0])
        if need > self._index.get_max_elements():
            self._index.resize_index(max(need, 2 * self._index.get_max_elements()))
        self._index.add_items(
            matrix, ids, num_threads=self._policy.build_threads, replace_deleted=True
        )
        self._live.update(ids.tolist())

    def remove(self, ids: Iterable[int]) -> None:
        for ident in ids:
            if int(ident) in self._live:
                self._index.mark_deleted(int(ident))
                self._live.discard(int(ident))

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        k = min(k, len(self._live))
        if k <= 0:
            return SearchResult.empty()
        ef = max(self._policy.hnsw_ef_search, k)
        while True:
            self._index.set_ef(ef)
            try:
                labels, distances = self._index.knn_query(
                    np.asarray(probe, np.float32), k=k, num_threads=1
                )
                break
            except RuntimeError:  # too few reachable live nodes for k at this ef: widen
                if ef >= len(self._live):
                    labels, distances = self._exact(probe, k)
                    break
                ef *= 4
        return SearchResult(
            np.asarray(labels).reshape(-1).astype(np.int64),
            (1.0 - np.asarray(distances).reshape(-1)).astype(np.float32),
        )

    def _exact(self, probe: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        exact = ExactIdIndex(self.dim)
        ids = self.ids()
        exact.add(ids, self.vectors_of(ids))
        result = exact.search(probe, k)
        return result.rows, 1.0 - result.scores

    def ids(self) -> np.ndarray:
        return np.fromiter(self._live, np.int64, len(self._live))

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._index.get_items(ids), np.float32)


class UsearchIdIndex(IdIndex):
    """usearch HNSW (inner product, vectors stored as ``policy.usearch_dtype``); removal is
    in place by key, and the index serializes to bytes (:meth:`to_bytes`) for snapshots."""

    def __init__(self, dim: int, policy: IndexPolicy, capacity: int = 1024) -> None:
        super().__init__(dim)
        from usearch.index import Index

        self._policy = policy
        self._index: Any = Index(
            ndim=dim,
            metric="ip",
            dtype=policy.usearch_dtype,
            connectivity=policy.hnsw_m,
            expansion_add=policy.hnsw_ef_construction,
            expansion_search=policy.hnsw_ef_search,
        )

    def __len__(self) -> int:
        return int(self._index.size)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, matrix = self._check(ids, vectors)
        if not ids.shape[0]:
            return
        self.remove(ids)
        self._index.add(ids.astype(np.uint64), matrix, threads=self._policy.build_threads)

    def remove(self, ids: Iterable[int]) -> None:
        keys = np.asarray([int(i) for i in ids], np.uint64)
        if keys.shape[0]:
            present = np.asarray(self._index.contains(keys), bool).reshape(-1)
            if present.any():
                self._index.remove(keys[present])

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        k = min(k, len(self))
        if k <= 0:
            return SearchResult.empty()
        self._index.expansion_search = max(self._policy.hnsw_ef_search, k)
        found = self._index.search(np.asarray(probe, np.float32), k, threads=1)
        return SearchResult(
            np.asarray(found.keys, np.int64).reshape(-1),
            (1.0 - np.asarray(found.distances, np.float32)).reshape(-1),
        )

    def ids(self) -> np.ndarray:
        return np.asarray(self._index.keys, np.int64).reshape(-1)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        got = self._index.get(np.asarray(ids, np.uint64))
        return np.asarray(got, np.float32).reshape(len(ids), self.dim)

    def to_bytes(self) -> bytes:
        return bytes(self._index.save())

    def __getstate__(self) -> dict[str, Any]:
        return {"dim": self.dim, "policy": self._policy, "blob": self.to_bytes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from usearch.index import Index

        self.dim, self._policy = state["dim"], state["policy"]
        self._index = Index.restore(state["blob"])


class FaissIdIndex(IdIndex):
    """Exact faiss ``IndexFlatIP`` under ``IndexIDMap2`` (``pip install faiss-cpu``)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        try:
            import faiss
        except ImportError as exc:
            raise ConfigError(
                "matching.index",
                "is 'faiss' but the faiss package is not installed",
                hint="run `pip install 'faiss-cpu>=1.8'` (a vigil dependency), "
                "or set matching.index: numpy",
            ) from exc
        self._faiss: Any = faiss
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(max(dim, 1)))
        self._live: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, matrix = self._check(ids, vectors)
        self.remove(i for i in ids.tolist() if i in self._live)
        if ids.shape[0]:
            self._index.add_with_ids(matrix, ids)
            self._live.update(ids.tolist())

    def remove(self, ids: Iterable[int]) -> None:
        gone = np.array([i for i in ids if int(i) in self._live], np.int64)
        if gone.shape[0]:
            self._index.remove_ids(gone)
            self._live.difference_update(gone.tolist())

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        k = min(k, len(self._live))
        if k <= 0:
            return SearchResult.empty()
        scores, ids = self._index.search(np.asarray(probe, np.float32)[None, :], k)
        return SearchResult(ids[0].astype(np.int64), scores[0].astype(np.float32))

    def ids(self) -> np.ndarray:
        return np.fromiter(self._live, np.int64, len(self._live))

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        return np.stack([self._index.reconstruct(int(i)) for i in ids]).astype(np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "blob": self._faiss.serialize_index(self._index),
            "live": self._live,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        import faiss

        self.dim = state["dim"]
        self._faiss = faiss
        self._index = faiss.deserialize_index(state["blob"])
        self._live = state["live"]


def new_index(dim: int, size: int, policy: IndexPolicy) -> IdIndex:
    """The index ``policy`` picks for a partition of ``size`` entries."""
    if policy.kind == "faiss":
        return FaissIdIndex(dim)
    if policy.kind not in INDEX_KINDS:
        raise ConfigError(
            "matching.index",
            f"unknown index {policy.kind!r}",
            hint=f"use one of {', '.join(INDEX_KINDS)}",
        )
    if policy.ann_kind(size) == "hnsw":
        return HnswIdIndex(dim, policy, capacity=size)
    if policy.ann_kind(size) == "usearch":
        return UsearchIdIndex(dim, policy, capacity=size)
    if policy.ann_kind(size) == "pqfs":  # trains itself once it holds pq_train_min entries
        return PqfsIdIndex(dim, policy)
    return ExactIdIndex(dim)  # IVF needs training vectors: see ann_from()


INDEX_KINDS = ("auto", "numpy", "hnsw", "usearch", "ivf", "pqfs", "faiss")


def ann_from(exact: IdIndex, policy: IndexPolicy) -> IdIndex:
    """The ANN index ``policy`` wants, filled with ``exact``'s entries (IVF trains on them)."""
    ids = exact.ids()
    vectors = exact.vectors_of(ids)
    index: IdIndex
    kind = policy.ann_kind(len(ids))
    if kind == "ivf":
        index = FaissIvfIdIndex(exact.dim, policy, vectors)
    elif kind == "usearch":
        index = UsearchIdIndex(exact.dim, policy, capacity=2 * len(ids))
    elif kind == "pqfs":
        index = PqfsIdIndex(exact.dim, policy)
    else:
        index = HnswIdIndex(exact.dim, policy, capacity=2 * len(ids))
    index.add(ids, vectors)
    return index


class FaissIvfIdIndex(FaissIdIndex):
    """faiss ``IndexIVFFlat`` (inner product), trained once on the vectors it starts from."""

    def __init__(self, dim: int, policy: IndexPolicy, train: np.ndarray) -> None:
        super().__init__(dim)
        faiss = self._faiss
        lists = max(1, min(policy.ivf_lists, train.shape[0] // 39))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(policy.build_threads)
        ivf.train(as_matrix(train, "training vectors"))
        ivf.nprobe = min(policy.ivf_probes, lists)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        self._index = ivf

    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        result = super().search(probe, k)
        keep = result.rows >= 0  # fewer than k in the probed lists
        return SearchResult(result.rows[keep], result.scores[keep])
