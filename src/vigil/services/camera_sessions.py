"""Camera sessions: each camera run is one recorded "use" of the system (EU AI Act Art 12(3)).

:class:`SessionLog` opens a ``camera_sessions`` row (pack, threshold, watchlists loaded) with a
``camera.session_start`` audit event, and closes it with ``camera.session_stop``.
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
