"""Camera sessions: each camera run is one recorded "use" of the system (EU AI Act Art 12(3)).

:class:`SessionLog` opens a ``camera_sessions`` row (pack, threshold, watchlists loaded) with a
``camera.session_start`` audit event, and closes it with ``camera.session_stop``.

A process that was killed (``kill -9``, power loss) never records its cameras' stop, and an open
session would count hours in the transparency report forever. ``vigil serve`` calls
:func:`close_stale_camera_sessions` before it starts any camera: each open session is closed at
its start time (its real length is unknown, so it counts no hours rather than invented ones) and
an audit event says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.accountability import audit
from vigil.db.session import Database
from vigil.faces.gallery import GallerySnapshot
from vigil.repositories.camera_sessions import CameraSessionRepo
from vigil.timeutil import utcnow

ACTOR = "system:runtime"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: int
    camera: str
    watchlists: tuple[str, ...]


class SessionLog:
    """Records camera sessions (start/stop rows + audit events); verbs start and stop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, camera: str, source: str, snapshot: GallerySnapshot) -> SessionInfo:
        """``source`` is the camera URL with credentials already removed."""
        watchlists = tuple(sorted({e.watchlist_name for e in snapshot.entries}))
        with self.db.write() as s:
            row = CameraSessionRepo(s).start(
                camera,
                pack=snapshot.pack,
                threshold=snapshot.threshold,
                watchlists=watchlists,
                started_at=utcnow(),
            )
            audit.record(
                s,
                actor=ACTOR,
                action="camera.session_start",
                target=camera,
                details={
                    "session": row.id,
                    "source": source,
                    "pack": snapshot.pack,
                    "threshold": snapshot.threshold,
                    "watchlists": list(watchlists),
                },
            )
            return SessionInfo(row.id, camera, watchlists)

    def stop(self, info: SessionInfo, *, frames: int, alerts: int) -> None:
        with self.db.write() as s:
            CameraSessionRepo(s).stop(info.session_id, utcnow())
            audit.record(
                s,
                actor=ACTOR,
                action="camera.session_stop",
                target=info.camera,
                details={"session": info.session_id, "frames": frames, "alerts": alerts},
            )


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
