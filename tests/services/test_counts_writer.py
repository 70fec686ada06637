"""CountsWriter: the pipeline's counts sink adds each minute to the face_counts table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from vigil.db.models import FaceCount
from vigil.db.session import Database
from vigil.domain.counts import MinuteCount
from vigil.pipeline.counts import FaceCounter
from vigil.services.counts import CountsWriter

T0 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)


def rows(db: Database) -> list[tuple[str, datetime, int, int, int]]:
    with db.read() as s:
        found = s.scalars(select(FaceCount).order_by(FaceCount.camera, FaceCount.minute)).all()
        return [(r.camera, r.minute, r.faces, r.tracks, r.embedded_tracks) for r in found]


def test_writes_add_up_per_camera_minute(db: Database) -> None:
    writer = CountsWriter(db)
    minute = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    writer.write("cam1", minute, MinuteCount(5, 1, 1))
    writer.write("cam1", minute, MinuteCount(0, 1, 0))
    writer.write("cam2", minute, MinuteCount(2, 0, 0))
    assert rows(db) == [("cam1", minute, 5, 2, 1), ("cam2", minute, 2, 0, 0)]


def test_a_counter_wired_to_the_writer_stores_whole_minutes(db: Database) -> None:
    counter = FaceCounter("cam1", CountsWriter(db))
    counter.count_faces(T0, 3)
    counter.count_track(T0, embedded=True)
    assert rows(db) == []
    counter.count_faces(T0 + timedelta(seconds=40), 1)
    counter.flush()
    assert rows(db) == [
        ("cam1", datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 3, 1, 1),
        ("cam1", datetime(2026, 3, 1, 10, 1, tzinfo=UTC), 1, 0, 0),
    ]
