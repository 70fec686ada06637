"""FaceCounter: per-camera per-minute aggregates, flushed when the minute turns and at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from vigil.db.models import FaceCount
from vigil.db.session import Database
from vigil.pipeline.counts import FaceCounter

T0 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)


def rows(db: Database) -> list[tuple[datetime, int, int, int]]:
    with db.read() as s:
        found = s.scalars(select(FaceCount).order_by(FaceCount.minute)).all()
        return [(r.minute, r.faces, r.tracks, r.embedded_tracks) for r in found]


def test_minutes_are_flushed_when_the_minute_turns_and_at_the_end(db: Database) -> None:
    counter = FaceCounter("cam1", db)
    counter.count_faces(T0, 3)
    counter.count_track(T0, embedded=True)
    counter.count_faces(T0 + timedelta(seconds=10), 2)
    assert rows(db) == []  # the minute is still open
    counter.count_faces(T0 + timedelta(seconds=40), 1)  # 10:01:10
    assert rows(db) == [(datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 5, 1, 1)]
    counter.count_track(T0, embedded=False)  # a track that began in the flushed minute ended later
    counter.flush()
    assert rows(db) == [
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 5, 2, 1),
        (datetime(2026, 3, 1, 10, 1, tzinfo=UTC), 1, 0, 0),
    ]


def test_without_a_database_counts_stay_in_memory() -> None:
    counter = FaceCounter("bench")
    counter.count_faces(T0, 4)
    counter.count_track(T0, embedded=False)
    assert counter.flush() == 0
    totals = counter.totals()
    assert (totals.faces, totals.tracks, totals.embedded_tracks) == (4, 1, 0)
