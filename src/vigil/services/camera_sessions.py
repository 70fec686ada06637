"""Camera sessions left open by a crash: closed at startup, audited, so report hours stay true.

A process that was killed (``kill -9``, power loss) never records its cameras' stop, and an open
session would count hours in the transparency report forever. ``vigil serve`` calls
:func:`close_stale_camera_sessions` before it starts any camera (this deployment runs one
server per database): each open session is closed at its start time (its real length is
unknown, so it counts no hours rather than invented ones) and an audit event says so.
"""

from __future__ import annotations

from vigil.accountability import audit
from vigil.db.session import Database
from vigil.repositories.camera_sessions import CameraSessionRepo


def close_stale_camera_sessions(db: Database, *, actor: str) -> int:
    """Close every camera session with no stop (audited, one event each); returns how many."""
    with db.write() as s:
        stale = CameraSessionRepo(s).open_sessions()
        for row in stale:
            row.stopped_at = row.started_at
            audit.record(
                s,
                actor=actor,
                action="camera.session_closed",
                target=row.camera,
                details={
                    "session_id": row.id,
                    "started_at": row.started_at.isoformat(timespec="seconds"),
                    "reason": "left open by a process that did not stop cleanly; counted as 0 h",
                },
            )
        return len(stale)
