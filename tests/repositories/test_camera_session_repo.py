"""CameraSessionRepo: a run's row is opened with what it matched with and closed at stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.db.models import CameraSession
from vigil.db.session import Database
from vigil.repositories.camera_sessions import CameraSessionRepo

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_start_then_stop(db: Database) -> None:
    with db.write() as s:
        row = CameraSessionRepo(s).start(
            "cam1", pack="dlib", threshold=0.93, watchlists=("a", "b"), started_at=T0
        )
        session_id = row.id
    with db.write() as s:
        stopped = CameraSessionRepo(s).stop(session_id, T0 + timedelta(minutes=5))
        assert stopped is not None
    with db.read() as s:
        found = s.get(CameraSession, session_id)
        assert (found.camera, found.pack, found.threshold, found.watchlists) == (
            "cam1",
            "dlib",
            0.93,
            ["a", "b"],
        )
        assert (found.started_at, found.stopped_at) == (T0, T0 + timedelta(minutes=5))


def test_stopping_a_session_that_is_gone_is_none(db: Database) -> None:
    with db.write() as s:
        assert CameraSessionRepo(s).stop(12345, T0) is None
