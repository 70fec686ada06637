"""1:N matching of probe embeddings against the gallery of authorized entries.

The gallery itself (entries, index, threshold) is a :class:`vigil.faces.gallery.GallerySnapshot`
that the runtime hands in through a :class:`GallerySource`; the pipeline never reads the database.

:class:`Matcher` applies the safeguard that decides what may be matched: the snapshot searches
only the entries whose authorization covers the camera at that time (the filter is inside the
search, per authorization; see :class:`vigil.faces.gallery.FilteredGallery`), and only results
at or above the threshold in force are returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import numpy as np

from vigil.faces.gallery import (
    FaissIndex,
    FilteredGallery,
    GalleryHit,
    GalleryIndex,
    GallerySnapshot,
    NumpyIndex,
    SearchResult,
    create_index,
)
from vigil.types import Embedding, Match

__all__ = [
    "FaissIndex",
    "FilteredGallery",
    "GalleryHit",
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

    CANDIDATES_PER_SUBJECT = 4  # templates asked for per wanted subject before widening

    def __init__(self, snapshot_source: GallerySource, top_k: int) -> None:
        self._source = snapshot_source
        self.top_k = top_k

    def can_match(self, camera: str, at: datetime) -> bool:
        """Whether any entry may be matched on ``camera`` at ``at`` (else nothing is embedded)."""
        return self._source.snapshot().allows_any(camera, at)

    def min_face_px(self) -> int:
        """The minimum face size the gallery in force asks of camera faces (0: none given)."""
        return self._source.snapshot().min_face_px

    def match(
        self, embeddings: list[Embedding], camera: str, at: datetime, margin: float = 0.0
    ) -> list[Match]:
        """Subjects whose allowed entries score at least the threshold, best first (top-k).

        A track's embeddings are averaged into one probe. The gallery searches only the
        entries whose authorization covers ``camera`` at ``at`` (the filter is inside the
        search); one result per subject (its best template). ``margin`` (0 to 1) raises the bar
        to ``threshold + margin x (1 - threshold)``: only a clear match passes it.
        """
        if not 0.0 <= margin <= 1.0:
            raise ValueError(f"Matcher.match: margin must be in [0, 1], got {margin}")
        snap = self._source.snapshot()
        if not embeddings or not snap.allows_any(camera, at):
            return []
        probe = Embedding.normalised(
            np.mean([e.vector for e in embeddings], axis=0), embeddings[0].pack
        )
        bar = snap.threshold + margin * (1.0 - snap.threshold)
        k = self.top_k * self.CANDIDATES_PER_SUBJECT
        while True:
            hits = snap.search(probe.vector, camera, at, k)
            best = self._best_per_subject(hits, bar)
            exhausted = len(hits) < k or hits[-1].score < bar
            if len(best) >= self.top_k or exhausted:
                return best[: self.top_k]
            k *= 4  # many templates of few subjects filled the window: widen

    @staticmethod
    def _best_per_subject(hits: list[GalleryHit], threshold: float) -> list[Match]:
        best: dict[int, Match] = {}
        for hit in hits:
            if hit.score < threshold:
                break  # best first: nothing below clears the threshold
            if hit.entry.subject_id not in best:
                best[hit.entry.subject_id] = Match(entry=hit.entry, score=hit.score)
        return list(best.values())
