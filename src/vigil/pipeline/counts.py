"""Aggregate face counts per camera per minute: the only trace unmatched faces leave.

Nothing per person is counted: a minute's row says how many face detections, tracks and
embedded tracks the camera had, written through :class:`vigil.repositories.counts.CountRepo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vigil.db.session import Database
from vigil.repositories.counts import CountRepo
from vigil.timeutil import to_minute


@dataclass(slots=True)
class MinuteCount:
    faces: int = 0
    tracks: int = 0
    embedded_tracks: int = 0


@dataclass(slots=True)
class FaceCounter:
    """Counts in memory and flushes whole minutes; one verb each: count_*, :meth:`flush`."""

    camera: str
    db: Database | None = None  # None: count only (benchmarks)
    _minutes: dict[datetime, MinuteCount] = field(default_factory=dict)
    _current: datetime | None = None

    def count_faces(self, at: datetime, faces: int) -> None:
        minute = to_minute(at)
        self._minutes.setdefault(minute, MinuteCount()).faces += faces
        if self._current is not None and minute > self._current:
            self.flush(before=minute)
        self._current = minute

    def count_track(self, started: datetime, *, embedded: bool) -> None:
        bucket = self._minutes.setdefault(to_minute(started), MinuteCount())
        bucket.tracks += 1
        bucket.embedded_tracks += int(embedded)

    def totals(self) -> MinuteCount:
        """Counts not yet flushed, summed (for reports of a run)."""
        total = MinuteCount()
        for c in self._minutes.values():
            total.faces += c.faces
            total.tracks += c.tracks
            total.embedded_tracks += c.embedded_tracks
        return total

    def flush(self, before: datetime | None = None) -> int:
        """Write and forget the minutes before ``before`` (all if None); returns rows written."""
        due = sorted(m for m in self._minutes if before is None or m < before)
        if not due or self.db is None:
            return 0
        with self.db.write() as s:
            repo = CountRepo(s)
            for minute in due:
                c = self._minutes.pop(minute)
                repo.add(
                    self.camera,
                    minute,
                    faces=c.faces,
                    tracks=c.tracks,
                    embedded_tracks=c.embedded_tracks,
                )
        return len(due)
