"""Camera sessions left open: closed only once their server's heartbeat is stale, at that
heartbeat, audited; a session another running server owns is never closed (several servers on
one database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from vigil.config import RuntimeConfig, Settings
from vigil.db.models import AuditEvent, CameraSession
from vigil.db.session import Database
from vigil.repositories.camera_sessions import CameraSessionRepo
from vigil.services.camera_sessions import SessionKeeper, close_stale_camera_sessions
from vigil.timeutil import utcnow

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CONFIG = RuntimeConfig(session_heartbeat_seconds=10, session_stale_seconds=60)


def _open(
    db: Database,
    camera: str,
    *,
    owner: str | None,
    started: datetime = T0,
    heartbeat: datetime | None = None,
    stopped: datetime | None = None,
) -> int:
    with db.write() as s:
        row = CameraSessionRepo(s).start(
            camera, pack="dlib", threshold=0.9, watchlists=("w",), started_at=started, owner=owner
        )
        row.heartbeat_at = heartbeat
        row.stopped_at = stopped
        return row.id


def _rows(db: Database) -> dict[int, CameraSession]:
    with db.read() as s:
        return {r.id: r for r in s.scalars(select(CameraSession)).all()}


def _closed_events(db: Database) -> list[AuditEvent]:
    with db.read() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "camera.session_closed")
                .order_by(AuditEvent.id)
            ).all()
        )


def test_a_starting_server_leaves_a_running_servers_session_open(db: Database) -> None:
    from vigil.cli.server import Runtime

    now = utcnow()
    running = _open(db, "door", owner="server-a", started=now - timedelta(hours=3), heartbeat=now)
    runtime = SimpleNamespace(  # server B starting: its keeper runs a round before its cameras
        context=SimpleNamespace(db=db, settings=Settings()),
        sessions=SessionKeeper(db, "server-b", CONFIG, actor="vigil serve"),
        jobs=SimpleNamespace(start=lambda: None),
        supervisor=SimpleNamespace(),
    )
    try:
        Runtime.start_cameras(runtime)  # type: ignore[arg-type]
    finally:
        runtime.sessions.stop()
    assert _rows(db)[running].stopped_at is None
    assert _closed_events(db) == []


def test_a_stale_session_is_closed_at_its_last_heartbeat_and_audited(db: Database) -> None:
    heartbeat = T0 + timedelta(hours=2)
    crashed = _open(db, "door", owner="server-a", heartbeat=heartbeat)
    legacy = _open(db, "gate", owner=None, heartbeat=None)  # from before heartbeats: 0 h
    clean = _open(db, "hall", owner="server-a", heartbeat=T0, stopped=T0 + timedelta(hours=1))
    closed = close_stale_camera_sessions(db, actor="vigil serve", stale_after=timedelta(seconds=60))
    rows = _rows(db)
    assert closed == 2
    assert rows[crashed].stopped_at == heartbeat  # the hours it really ran, not "now"
    assert rows[legacy].stopped_at == T0
    assert rows[clean].stopped_at == T0 + timedelta(hours=1)  # untouched
    events = _closed_events(db)
    assert [(e.actor, e.target, e.details["session_id"]) for e in events] == [
        ("vigil serve", "door", crashed),
        ("vigil serve", "gate", legacy),
    ]
    assert events[0].details["stopped_at"] == heartbeat.isoformat(timespec="seconds")
    assert "2.00 h" in events[0].details["reason"]


def test_a_heartbeat_keeps_only_its_own_sessions_alive(db: Database) -> None:
    old = utcnow() - timedelta(minutes=5)
    mine = _open(db, "door", owner="server-a", started=old, heartbeat=old)
    theirs = _open(db, "hall", owner="server-c", started=old, heartbeat=old)
    keeper_a = SessionKeeper(db, "server-a", CONFIG, actor="vigil serve")
    assert keeper_a.beat() == 1
    closed = SessionKeeper(db, "server-b", CONFIG, actor="vigil serve").sweep()
    rows = _rows(db)
    assert closed == 1
    assert rows[mine].stopped_at is None and rows[mine].heartbeat_at is not None
    assert rows[mine].heartbeat_at > old
    assert rows[theirs].stopped_at == old  # server-c stopped beating five minutes ago


def test_a_session_is_not_stale_before_the_bound(db: Database) -> None:
    beat = utcnow()
    session = _open(db, "door", owner="server-a", heartbeat=beat)
    sweep = timedelta(seconds=60)
    assert close_stale_camera_sessions(db, actor="t", stale_after=sweep, now=beat + sweep) == 0
    assert _rows(db)[session].stopped_at is None
    later = beat + sweep + timedelta(seconds=1)
    assert close_stale_camera_sessions(db, actor="t", stale_after=sweep, now=later) == 1
    assert _rows(db)[session].stopped_at == beat


@pytest.mark.parametrize(
    ("heartbeat", "stale", "error"),
    [
        (30, 60, "at least 3 x runtime.session_heartbeat_seconds"),
        (0.5, 120, "greater than or equal to 1"),
        (30, 100_000, "less than or equal to 86400"),
    ],
)
def test_session_bounds_are_checked(heartbeat: float, stale: float, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        RuntimeConfig(session_heartbeat_seconds=heartbeat, session_stale_seconds=stale)
