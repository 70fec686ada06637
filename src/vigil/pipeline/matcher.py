"""1:N matching of probe embeddings against the gallery of authorized entries.

The index is behind :class:`GalleryIndex`: :class:`NumpyIndex` (exact, default) or
:class:`FaissIndex` (optional ``faiss-cpu``, chosen by ``matching.index: faiss``; if faiss is not
installed that is a ConfigError, never a silent fallback to numpy).

:class:`Matcher` applies the safeguard that decides what may be matched: only entries whose
:meth:`vigil.types.GalleryEntry.allows` is true for the camera and time are ever returned, and
only at or above the threshold in force.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from vigil.errors import ConfigError
from vigil.types import Embedding, GalleryEntry, Match


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


class SnapshotSource(Protocol):
    """Gives the gallery to match against now (e.g. an ActiveGallery)."""

    def snapshot(self) -> GallerySnapshot: ...


class Matcher:
    """Matches a track's embeddings; one verb: :meth:`match`."""

    def __init__(self, snapshot_source: SnapshotSource, top_k: int) -> None:
        self._source = snapshot_source
        self.top_k = top_k

    def can_match(self, camera: str, at: datetime) -> bool:
        """Whether any entry may be matched on ``camera`` at ``at`` (else nothing is embedded)."""
        return any(e.allows(camera, at) for e in self._source.snapshot().entries)

    def match(self, embeddings: list[Embedding], camera: str, at: datetime) -> list[Match]:
        """Subjects whose allowed entries score at least the threshold, best first (top-k).

        A track's embeddings are averaged into one probe. Only entries whose authorization
        covers ``camera`` at ``at`` are considered; one result per subject (its best template).
        """
        snap = self._source.snapshot()
        if not embeddings or not snap.entries:
            return []
        allowed = np.array([e.allows(camera, at) for e in snap.entries], dtype=bool)
        if not allowed.any():
            return []
        probe = Embedding.normalised(
            np.mean([e.vector for e in embeddings], axis=0), embeddings[0].pack
        )
        # The full ranking: exact, and disallowed entries can never crowd out allowed ones.
        result = snap.index.search(probe.vector[None, :], len(snap.entries))[0]
        best: dict[int, Match] = {}
        for row, score in zip(result.rows.tolist(), result.scores.tolist(), strict=True):
            entry = snap.entries[row]
            if not allowed[row] or score < snap.threshold:
                continue
            if entry.subject_id not in best or best[entry.subject_id].score < score:
                best[entry.subject_id] = Match(entry=entry, score=float(score))
        return sorted(best.values(), key=lambda m: -m.score)[: self.top_k]
