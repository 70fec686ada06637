"""1:N matching of probe embeddings against the gallery of authorized entries.

The gallery itself (entries, index, threshold) is a :class:`vigil.faces.gallery.GallerySnapshot`
that the runtime hands in through a :class:`GallerySource`; the pipeline never reads the database.

:class:`Matcher` applies the safeguard that decides what may be matched: only entries whose
:meth:`vigil.types.GalleryEntry.allows` is true for the camera and time are ever returned, and
only at or above the threshold in force.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import numpy as np

from vigil.faces.gallery import (
    FaissIndex,
    GalleryIndex,
    GallerySnapshot,
    NumpyIndex,
    SearchResult,
    create_index,
)
from vigil.types import Embedding, Match

__all__ = [
    "FaissIndex",
    "GalleryIndex",
    "GallerySnapshot",
    "GallerySource",
    "Matcher",
    "NumpyIndex",
    "SearchResult",
    "SnapshotSource",
    "create_index",
]


class GallerySource(Protocol):
    """Gives the gallery to match against now (the runtime hands in an ActiveGallery)."""

    def snapshot(self) -> GallerySnapshot: ...


SnapshotSource = GallerySource  # the earlier name, kept for callers


class Matcher:
    """Matches a track's embeddings; one verb: :meth:`match`."""

    def __init__(self, snapshot_source: GallerySource, top_k: int) -> None:
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
