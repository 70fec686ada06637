"""Issue 13, Low: camera sessions left open by a crash are closed at startup, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import select

from vigil.config import Settings
from vigil.db.models import AuditEvent, CameraSession
from vigil.db.session import Database
from vigil.repositories.camera_sessions import CameraSessionRepo

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _open(db: Database, camera: str, *, stopped: bool = False) -> int:
    with db.write() as s:
        row = CameraSessionRepo(s).start(
            camera, pack="dlib", threshold=0.9, watchlists=("w",), started_at=T0
        )
        if stopped:
            row.stopped_at = T0 + timedelta(hours=1)
        return row.id


def test_serve_closes_sessions_a_crash_left_open(db: Database, settings: object) -> None:
    from vigil.cli.server import Runtime

    crashed, clean = _open(db, "door"), _open(db, "hall", stopped=True)
    runtime = SimpleNamespace(
        context=SimpleNamespace(db=db, settings=Settings()),
        jobs=SimpleNamespace(start=lambda: None),
        supervisor=SimpleNamespace(),
    )
    Runtime.start_cameras(runtime)  # type: ignore[arg-type]
    with db.read() as s:
        rows = {r.id: r for r in s.scalars(select(CameraSession)).all()}
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "camera.session_closed")
        ).all()
        assert rows[crashed].stopped_at == T0  # counts no invented hours
        assert rows[clean].stopped_at == T0 + timedelta(hours=1)  # untouched
        assert [(e.target, e.details["session_id"]) for e in events] == [("door", crashed)]
