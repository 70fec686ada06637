"""The searchable gallery: authorized templates partitioned by authorization, filtered in search.

Every entry's right to be matched (camera scope, validity window) is its authorization's, so the
gallery keeps one :class:`Partition` per authorization scope, each with its own incremental
:class:`~vigil.faces.index.IdIndex` (exact below ``IndexPolicy.exact_below`` entries, a PQ
fast scan with exact re-rank above: ``pqfs``). A search first picks the partitions whose
:class:`Scope` allows the camera at that time (a handful of checks, never one per entry) and
searches only those: an entry outside its scope is never a candidate, so it can neither be
returned nor crowd out an allowed one.

:class:`FilteredGallery` changes in place by id (add, remove, re-scope, drop an authorization);
:class:`GallerySnapshot` is what a matcher searches (gallery, threshold, pack). Both pickle (the
Ray runtime ships snapshots to remote actors). The legacy :class:`GalleryIndex` classes build
a snapshot from a static list (tests, benchmarks): ``GallerySnapshot(entries, index, ...)``.
"""

from __future__ import annotations

import dataclasses
import pickle
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.faces.index import (
    INDEX_KINDS,
    ExactIdIndex,
    IdIndex,
    IndexPolicy,
    SearchResult,
    ann_from,
    as_matrix,
    new_index,
)
from vigil.types import GalleryEntry

# What reading a snapshot written by another version of the code may raise.
UNREADABLE = (
    pickle.UnpicklingError,
    EOFError,
    AttributeError,
    ImportError,
    TypeError,
    ValueError,
    IndexError,
    RuntimeError,
)

__all__ = [
    "UNREADABLE",
    "FaissIndex",
    "FilteredGallery",
    "GalleryHit",
    "GalleryIndex",
    "GallerySnapshot",
    "IndexPolicy",
    "NumpyIndex",
    "Partition",
    "Scope",
    "SearchResult",
    "create_index",
]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where and when an authorization's entries may be matched."""

    authorization_id: int
    valid_from: datetime
    expires_at: datetime
    cameras: tuple[str, ...] | None  # None = all cameras

    @staticmethod
    def of(entry: GalleryEntry) -> Scope:
        return Scope(entry.authorization_id, entry.valid_from, entry.expires_at, entry.cameras)

    def allows(self, camera: str, at: datetime) -> bool:
        if not (self.valid_from <= at < self.expires_at):
            return False
        return self.cameras is None or camera in self.cameras


def _scope_fields(scope: Scope) -> dict[str, Any]:
    return {
        "valid_from": scope.valid_from,
        "expires_at": scope.expires_at,
        "cameras": scope.cameras,
    }


@dataclass(frozen=True, slots=True)
class GalleryHit:
    """One allowed entry found by a search, with its cosine score."""

    entry: GalleryEntry
    score: float


class Partition:
    """The entries of one authorization and their index."""

    def __init__(self, scope: Scope, dim: int, policy: IndexPolicy, size_hint: int = 0) -> None:
        self.scope = scope
        self.policy = policy
        self.index: IdIndex = new_index(dim, size_hint, policy)
        self.entries: dict[int, GalleryEntry] = {}

    def add(self, entries: Sequence[GalleryEntry], vectors: np.ndarray) -> None:
        ids = np.fromiter((e.template_id for e in entries), np.int64, len(entries))
        self.index.add(ids, vectors)
        self.entries.update((e.template_id, e) for e in entries)
        if isinstance(self.index, ExactIdIndex) and self.policy.ann_kind(len(self.entries)):
            self.index = ann_from(self.index, self.policy)

    def remove(self, template_ids: Iterable[int]) -> int:
        gone = [t for t in template_ids if self.entries.pop(t, None) is not None]
        self.index.remove(gone)
        return len(gone)

    def rescope(self, scope: Scope) -> None:
        """The authorization's scope changed: its entries carry the new one."""
        self.scope = scope
        fields = _scope_fields(scope)
        self.entries = {t: dataclasses.replace(e, **fields) for t, e in self.entries.items()}

    def search(self, probe: np.ndarray, k: int) -> list[GalleryHit]:
        result = self.index.search(probe, k)
        return [
            GalleryHit(self.entries[t], float(s))
            for t, s in zip(result.rows.tolist(), result.scores.tolist(), strict=True)
        ]


class FilteredGallery:
    """Authorized templates of one pack, partitioned by authorization; changes in place by id."""

    def __init__(self, policy: IndexPolicy | None = None, dim: int | None = None) -> None:
        self.policy = policy or IndexPolicy()
        self.dim = dim
        self._parts: dict[Scope, Partition] = {}
        self._lock = threading.RLock()
        self.version = 0  # bumped by every change
        self._subjects: tuple[int, int] = (-1, 0)  # (version, distinct subjects) cache

    def __len__(self) -> int:
        with self._lock:
            return sum(len(p.entries) for p in self._parts.values())

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {"policy": self.policy, "dim": self.dim, "parts": self._parts, "v": self.version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.policy, self.dim = state["policy"], state["dim"]
        self._parts, self.version = state["parts"], state["v"]
        self._lock = threading.RLock()
        self._subjects = (-1, 0)

    def dump(self, header: object = None) -> bytes:
        """``header`` and the whole gallery (entries, built indexes) as bytes, for a snapshot.

        Plain bytes holding templates: the caller must encrypt them before they touch a disk
        (:mod:`vigil.services.gallery_snapshot`). :meth:`load` reverses it."""
        with self._lock:
            return pickle.dumps((header, self), protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(data: bytes) -> tuple[object, FilteredGallery]:
        """(header, gallery) from :meth:`dump`'s bytes; raises one of :data:`UNREADABLE`. Only
        for bytes this deployment sealed and has just authenticated (pickle runs code)."""
        header, gallery = pickle.loads(data)  # authenticated (AES-GCM) bytes only
        if not isinstance(gallery, FilteredGallery):
            raise ValueError(f"not a gallery snapshot: {type(gallery).__name__}")
        return header, gallery

    def add(self, entries: Sequence[GalleryEntry], vectors: np.ndarray) -> None:
        """Add or replace entries (row i of ``vectors`` is ``entries[i]``), by authorization."""
        matrix = as_matrix(vectors, "gallery vectors") if len(entries) else vectors
        if not len(entries):
            return
        if self.dim is None:
            self.dim = int(matrix.shape[1])
        if matrix.shape != (len(entries), self.dim):
            raise ValueError(
                f"gallery vectors: expected shape ({len(entries)}, {self.dim}), got {matrix.shape}"
            )
        groups: dict[Scope, list[int]] = {}
        for row, entry in enumerate(entries):
            groups.setdefault(Scope.of(entry), []).append(row)
        with self._lock:
            self.remove(e.template_id for e in entries)
            for scope, rows in groups.items():
                part = self._parts.get(scope)
                if part is None:
                    part = self._parts[scope] = Partition(scope, self.dim, self.policy, len(rows))
                part.add([entries[r] for r in rows], matrix[rows])
            self.version += 1

    def remove(self, template_ids: Iterable[int]) -> int:
        """Remove entries by template id; returns how many were present."""
        wanted = set(template_ids)
        with self._lock:
            gone = sum(p.remove(wanted & p.entries.keys()) for p in self._parts.values())
            for scope in [s for s, p in self._parts.items() if not p.entries]:
                del self._parts[scope]
            self.version += 1
            return gone

    def drop_authorization(self, authorization_id: int) -> int:
        """Remove every entry of one authorization at once (revocation, expiry); returns count."""
        with self._lock:
            gone = [s for s in self._parts if s.authorization_id == authorization_id]
            count = sum(len(self._parts.pop(s).entries) for s in gone)
            self.version += 1
            return count

    def rescope(self, scope: Scope) -> None:
        """The authorization's scope changed: its entries move to the new scope in place."""
        with self._lock:
            old = [
                s
                for s in self._parts
                if s.authorization_id == scope.authorization_id and s != scope
            ]
            for key in old:
                part = self._parts.pop(key)
                target = self._parts.get(scope)
                if target is None:
                    part.rescope(scope)
                    self._parts[scope] = part
                    continue
                ids = part.index.ids()
                moved = [
                    dataclasses.replace(part.entries[int(t)], **_scope_fields(scope)) for t in ids
                ]
                target.add(moved, part.index.vectors_of(ids))
            self.version += 1

    def scopes(self) -> list[Scope]:
        with self._lock:
            return list(self._parts)

    def subject_count(self) -> int:
        """How many distinct subjects have an entry (every partition): the N of the
        watchlist-size threshold. Counted once per change (cached by :attr:`version`)."""
        with self._lock:
            version, count = self._subjects
            if version != self.version:
                subjects = {e.subject_id for p in self._parts.values() for e in p.entries.values()}
                count = len(subjects)
                self._subjects = (self.version, count)
            return count

    def template_ids(self) -> set[int]:
        with self._lock:
            return {t for p in self._parts.values() for t in p.entries}

    def entries(self) -> tuple[GalleryEntry, ...]:
        """Every entry, by template id (builds a tuple: for reports, not per frame)."""
        with self._lock:
            out = [e for p in self._parts.values() for e in p.entries.values()]
        return tuple(sorted(out, key=lambda e: e.template_id))

    def allows_any(self, camera: str, at: datetime) -> bool:
        with self._lock:
            return any(p.scope.allows(camera, at) for p in self._parts.values())

    def search(self, probe: np.ndarray, camera: str, at: datetime, k: int) -> list[GalleryHit]:
        """The ``k`` best entries allowed on ``camera`` at ``at``, best first.

        Only partitions whose scope allows (camera, at) are searched: the filter is applied
        inside the search, per authorization, never to a ranking of every entry.
        """
        vector = np.asarray(probe, np.float32).reshape(-1)
        if self.dim is not None and vector.shape[0] != self.dim:
            raise ValueError(f"probe: expected dimension {self.dim}, got {vector.shape[0]}")
        with self._lock:
            parts = [p for p in self._parts.values() if p.scope.allows(camera, at)]
            hits = [h for p in parts for h in p.search(vector, k)]
        hits.sort(key=lambda h: (-h.score, h.entry.template_id))
        return hits[:k]


class GallerySnapshot:
    """What a matcher searches: the filtered gallery, the threshold in force and the pack, with
    the minimum face size in force (``min_face_px``; 0: none given, the camera's quality gate
    keeps its own), which the runtime chose with the threshold for this gallery's size.

    ``GallerySnapshot(entries, index, threshold, pack)`` builds one from a static list and a
    built :class:`GalleryIndex` (row i = entries[i]); :meth:`of` wraps a live gallery.
    """

    __slots__ = ("gallery", "min_face_px", "pack", "threshold")

    def __init__(
        self,
        entries: Sequence[GalleryEntry],
        index: GalleryIndex | None,
        threshold: float,
        pack: str,
        *,
        gallery: FilteredGallery | None = None,
        min_face_px: int = 0,
    ) -> None:
        if gallery is None:
            gallery = FilteredGallery()
            if entries:
                if index is None:
                    raise ValueError("a snapshot of entries needs their built index")
                gallery.add(entries, index.vectors())
        self.gallery = gallery
        self.threshold = threshold
        self.pack = pack
        self.min_face_px = min_face_px

    @classmethod
    def of(
        cls, gallery: FilteredGallery, threshold: float, pack: str, min_face_px: int = 0
    ) -> GallerySnapshot:
        return cls((), None, threshold, pack, gallery=gallery, min_face_px=min_face_px)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "gallery": self.gallery,
            "threshold": self.threshold,
            "pack": self.pack,
            "min_face_px": self.min_face_px,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.gallery, self.threshold, self.pack = (
            state["gallery"],
            state["threshold"],
            state["pack"],
        )
        self.min_face_px = int(state.get("min_face_px", 0))

    @property
    def entries(self) -> tuple[GalleryEntry, ...]:
        return self.gallery.entries()

    @property
    def size(self) -> int:
        return len(self.gallery)

    def search(self, probe: np.ndarray, camera: str, at: datetime, k: int) -> list[GalleryHit]:
        return self.gallery.search(probe, camera, at, k)

    def allows_any(self, camera: str, at: datetime) -> bool:
        return self.gallery.allows_any(camera, at)


class GalleryIndex(ABC):
    """A static index over a list (legacy builder for :class:`GallerySnapshot`)."""

    dim: int = 0
    size: int = 0

    @abstractmethod
    def build(self, vectors: np.ndarray) -> None:
        """Index unit-length vectors (n, dim); replaces any earlier content."""

    @abstractmethod
    def vectors(self) -> np.ndarray:
        """The indexed vectors, row i first-added i (n, dim)."""

    def search(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        """The ``k`` best rows for each query (m, dim), best first (exact)."""
        matrix = as_matrix(queries, "queries")
        if self.size and matrix.shape[1] != self.dim:
            raise ValueError(f"queries: expected dimension {self.dim}, got {matrix.shape[1]}")
        exact = ExactIdIndex(self.dim)
        exact.add(np.arange(self.size, dtype=np.int64), self.vectors())
        return [exact.search(q, k) for q in matrix]


class NumpyIndex(GalleryIndex):
    """Holds the vectors; the snapshot's partitions choose their own index."""

    def __init__(self) -> None:
        self._vectors = np.zeros((0, 0), np.float32)

    def build(self, vectors: np.ndarray) -> None:
        self._vectors = as_matrix(vectors, "gallery vectors")
        self.size, self.dim = self._vectors.shape

    def vectors(self) -> np.ndarray:
        return self._vectors


class FaissIndex(NumpyIndex):
    """Kept for ``matching.index: faiss`` configs; checks faiss is installed."""

    def __init__(self) -> None:
        super().__init__()
        try:
            import faiss  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "matching.index",
                "is 'faiss' but the faiss package is not installed",
                hint="run `pip install 'faiss-cpu>=1.8'` (a vigil dependency), "
                "or set matching.index: numpy",
            ) from exc


def create_index(name: str) -> GalleryIndex:
    """The static builder for ``matching.index``; unknown names are ConfigErrors."""
    if name == "faiss":
        return FaissIndex()
    if name in INDEX_KINDS:  # static snapshots hold the vectors; partitions pick the index
        return NumpyIndex()
    raise ConfigError(
        "matching.index", f"unknown index {name!r}", hint=f"use one of {', '.join(INDEX_KINDS)}"
    )
