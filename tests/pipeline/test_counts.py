"""FaceCounter: per-camera per-minute aggregates, handed to a counts sink minute by minute."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from vigil.domain.counts import MinuteCount
from vigil.pipeline.counts import FaceCounter

T0 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
M0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
M1 = datetime(2026, 3, 1, 10, 1, tzinfo=UTC)


@dataclass
class ListSink:
    """A counts sink in memory; ``fail`` makes the next write raise."""

    written: list[tuple[str, datetime, int, int, int]] = field(default_factory=list)
    fail: bool = False

    def write(self, camera: str, minute: datetime, counts: MinuteCount) -> None:
        if self.fail:
            raise OSError("database is locked")
        self.written.append((camera, minute, counts.faces, counts.tracks, counts.embedded_tracks))


def test_minutes_are_flushed_when_the_minute_turns_and_at_the_end() -> None:
    sink = ListSink()
    counter = FaceCounter("cam1", sink)
    counter.count_faces(T0, 3)
    counter.count_track(T0, embedded=True)
    counter.count_faces(T0 + timedelta(seconds=10), 2)
    assert sink.written == []  # the minute is still open
    counter.count_faces(T0 + timedelta(seconds=40), 1)  # 10:01:10
    assert sink.written == [("cam1", M0, 5, 1, 1)]
    counter.count_track(T0, embedded=False)  # a track that began in the flushed minute ended later
    assert counter.flush() == 2
    assert sink.written == [("cam1", M0, 5, 1, 1), ("cam1", M0, 0, 1, 0), ("cam1", M1, 1, 0, 0)]
    assert counter.flush() == 0


def test_a_failing_sink_loses_no_minute() -> None:
    sink = ListSink(fail=True)
    counter = FaceCounter("cam1", sink)
    counter.count_faces(T0, 4)
    with pytest.raises(OSError, match="locked"):
        counter.flush()
    sink.fail = False
    assert counter.flush() == 1
    assert sink.written == [("cam1", M0, 4, 0, 0)]


def test_without_a_sink_counts_stay_in_memory() -> None:
    counter = FaceCounter("bench")
    counter.count_faces(T0, 4)
    counter.count_track(T0, embedded=False)
    assert counter.flush() == 0
    totals = counter.totals()
    assert (totals.faces, totals.tracks, totals.embedded_tracks) == (4, 1, 0)
