"""Aggregate face counts per camera per minute: the only trace unmatched faces leave.

Nothing per person is counted: a minute's :class:`~vigil.domain.counts.MinuteCount` says how many
face detections, tracks and embedded tracks the camera had. Whole minutes go to a
:class:`CountsSink` the runtime hands in (:class:`vigil.services.counts.CountsWriter` stores them);
the pipeline itself knows no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from vigil.domain.counts import MinuteCount
from vigil.timeutil import to_minute

__all__ = ["CountsSink", "FaceCounter", "MinuteCount"]


class CountsSink(Protocol):
    """Takes one finished minute of one camera's counts (adds to what is stored for it)."""

    def write(self, camera: str, minute: datetime, counts: MinuteCount) -> None: ...


@dataclass(slots=True)
class FaceCounter:
    """Counts in memory and flushes whole minutes; one verb each: count_*, :meth:`flush`."""

    camera: str
    sink: CountsSink | None = None  # None: count only (benchmarks)
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
        """Hand the minutes before ``before`` (all if None) to the sink and forget them.

        Returns the minutes written. A minute leaves memory only once the sink took it, so a
        failing sink loses nothing that a later flush could still write.
        """
        if self.sink is None:
            return 0
        due = sorted(m for m in self._minutes if before is None or m < before)
        for minute in due:
            self.sink.write(self.camera, minute, self._minutes[minute])
            del self._minutes[minute]
        return len(due)
