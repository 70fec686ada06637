"""What every gallery index shares: the :class:`IdIndex` interface, :class:`SearchResult` and
the :class:`IndexPolicy` that picks a kind (kept apart from :mod:`vigil.faces.index` so that
index modules such as :mod:`vigil.faces.index_pq` can build on it without an import cycle)."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Nearest rows for one query: ids (or row indices) and cosine scores, best first."""

    rows: np.ndarray  # int64 (k,)
    scores: np.ndarray  # float32 (k,)

    @staticmethod
    def empty() -> SearchResult:
        return SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))


@dataclass(frozen=True, slots=True)
class IndexPolicy:
    """Which index a partition uses; defaults chosen by ``vigil bench gallery`` (README)."""

    kind: str = "auto"  # auto | numpy | hnsw | usearch | ivf | pqfs | faiss
    exact_below: int = 20_000  # auto: exact under this many entries, ANN (``ann``) from it
    ann: str = "pqfs"  # what auto switches to: hnsw | usearch | ivf | pqfs (README)
    hnsw_m: int = 32  # graph degree (hnsw and usearch); 16 lost recall at 250k (README)
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128  # recall 0.995 at 100k x 128 (README "Gallery index")
    usearch_dtype: str = "f16"  # usearch storage: f32 | f16 | i8
    ivf_lists: int = 1024
    ivf_probes: int = 24
    build_threads: int = 2
    # New fields go last: a snapshot's pickled policy holds its values in this order.
    pq_m: int = 64  # pqfs: 4-bit sub-quantizers (32 bytes a template at 128-d and 512-d)
    pq_rerank: int = 64  # pqfs: candidates from the code scan re-ranked exactly (float16)
    pq_train_min: int = 1_024  # pqfs: exact float16 search until this many entries
    pq_train_sample: int = 65_536  # pqfs: vectors the quantizer is (re)trained on at most
    pq_rebuild_fraction: float = 0.2  # pqfs: compact and re-encode above this tombstone share
    search_threads: int = 1  # faiss OpenMP threads for one probe (pqfs)

    def __getstate__(self) -> list[object]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def __setstate__(self, state: list[object]) -> None:
        """A policy pickled before a field existed (an older snapshot) holds fewer values: the
        missing ones take their defaults, so the policy loads and compares as another policy."""
        for i, f in enumerate(dataclasses.fields(self)):
            object.__setattr__(self, f.name, state[i] if i < len(state) else f.default)

    def ann_kind(self, size: int) -> str | None:
        """The ANN kind (one of :data:`ANN_KINDS`) a partition of ``size`` entries wants."""
        if self.kind in ANN_KINDS:
            return self.kind
        if self.kind == "auto" and size >= self.exact_below:
            return self.ann
        return None


ANN_KINDS = ("hnsw", "usearch", "ivf", "pqfs")


def as_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D float32 array (n, dim), got shape {matrix.shape}")
    return np.ascontiguousarray(matrix)


def as_ids(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    return np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)


class IdIndex(ABC):
    """Unit vectors under int ids; ``add``/``remove`` in place, ``search`` top-k by cosine."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) ``vectors`` (n, dim) under ``ids`` (n,)."""

    @abstractmethod
    def remove(self, ids: Iterable[int]) -> None:
        """Forget these ids; unknown ids are ignored."""

    @abstractmethod
    def search(self, probe: np.ndarray, k: int) -> SearchResult:
        """The ``k`` best ids for one probe (dim,), best first."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every live id (int64)."""

    @abstractmethod
    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of live ``ids`` (n, dim)."""

    def _check(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = as_matrix(vectors, "gallery vectors")
        ids = as_ids(ids)
        if matrix.shape[0] != ids.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if matrix.shape[0] and matrix.shape[1] != self.dim:
            raise ValueError(
                f"gallery vectors: expected dimension {self.dim}, got {matrix.shape[1]}"
            )
        return ids, matrix
