"""The searchable gallery: a cosine index over enrolled templates and the snapshot matched against.

The index is behind :class:`GalleryIndex`: :class:`NumpyIndex` (exact, default) or
:class:`FaissIndex` (optional ``faiss-cpu``, chosen by ``matching.index: faiss``; if faiss is not
installed that is a ConfigError, never a silent fallback to numpy). A :class:`GallerySnapshot` is
built by :class:`vigil.services.gallery.ActiveGallery` and searched by
:class:`vigil.pipeline.matcher.Matcher`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.types import GalleryEntry


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Nearest gallery rows for one query: row indices and cosine scores, best first."""

    rows: np.ndarray  # int64 (k,)
    scores: np.ndarray  # float32 (k,)


def _as_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D float32 array (n, dim), got shape {matrix.shape}")
    return np.ascontiguousarray(matrix)


class GalleryIndex(ABC):
    """Nearest-neighbour search by cosine similarity (inner product of unit vectors)."""

    dim: int = 0
    size: int = 0

    @abstractmethod
    def build(self, vectors: np.ndarray) -> None:
        """Index unit-length vectors (n, dim); replaces any earlier content."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        """The ``k`` best rows for each query (m, dim), best first."""

    def _check_queries(self, queries: np.ndarray) -> np.ndarray:
        matrix = _as_matrix(queries, "queries")
        if self.size and matrix.shape[1] != self.dim:
            raise ValueError(f"queries: expected dimension {self.dim}, got {matrix.shape[1]}")
        return matrix


class NumpyIndex(GalleryIndex):
    """Exact search with one matrix product; fine up to ~100k templates."""

    def __init__(self) -> None:
        self._vectors = np.zeros((0, 0), np.float32)

    def build(self, vectors: np.ndarray) -> None:
        self._vectors = _as_matrix(vectors, "gallery vectors")
        self.size, self.dim = self._vectors.shape

    def search(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        matrix = self._check_queries(queries)
        if self.size == 0 or k <= 0:
            empty = SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
            return [empty for _ in range(matrix.shape[0])]
        scores = matrix @ self._vectors.T
        k = min(k, self.size)
        out = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k]
            top = top[np.argsort(-row[top], kind="stable")]
            out.append(SearchResult(top.astype(np.int64), row[top].astype(np.float32)))
        return out


class FaissIndex(GalleryIndex):
    """Exact inner-product search with faiss (``pip install vigil[faiss]``)."""

    def __init__(self) -> None:
        try:
            import faiss
        except ImportError as exc:
            raise ConfigError(
                "matching.index",
                "is 'faiss' but the faiss package is not installed",
                hint="run `pip install faiss-cpu` (or vigil[faiss]), or set matching.index: numpy",
            ) from exc
        self._faiss: Any = faiss
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        matrix = _as_matrix(vectors, "gallery vectors")
        self.size, self.dim = matrix.shape
        self._index = self._faiss.IndexFlatIP(max(self.dim, 1))
        if self.size:
            self._index.add(matrix)

    def search(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        matrix = self._check_queries(queries)
        if self.size == 0 or k <= 0:
            empty = SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
            return [empty for _ in range(matrix.shape[0])]
        scores, rows = self._index.search(matrix, min(k, self.size))
        return [
            SearchResult(r.astype(np.int64), s.astype(np.float32))
            for s, r in zip(scores, rows, strict=True)
        ]


def create_index(name: str) -> GalleryIndex:
    """The index named by ``matching.index``; unknown names and a missing faiss are ConfigErrors."""
    if name == "numpy":
        return NumpyIndex()
    if name == "faiss":
        return FaissIndex()
    raise ConfigError("matching.index", f"unknown index {name!r}", hint="use numpy or faiss")


@dataclass(frozen=True, slots=True)
class GallerySnapshot:
    """What a matcher searches: entries, their index (row i = entries[i]) and the threshold."""

    entries: tuple[GalleryEntry, ...]
    index: GalleryIndex
    threshold: float
    pack: str
