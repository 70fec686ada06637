"""Camera sessions: each camera run is one recorded "use" of the system (EU AI Act Art 12(3)).

:class:`SessionLog` opens a ``camera_sessions`` row (pack, threshold, watchlists loaded, and the
server process that owns it) with a ``camera.session_start`` audit event (which also names the
minimum face size in force and the number of enrolled people both were chosen for) and a log
line, and closes it with ``camera.session_stop``.

A process that was killed (``kill -9``, power loss) never records its cameras' stop, and an open
session would count hours in the transparency report forever. Several servers may share one
database, so "open" does not mean "left by a crash": each process that runs cameras holds a
:class:`SessionKeeper`, which every ``runtime.session_heartbeat_seconds`` stamps its own open
sessions' ``heartbeat_at`` and closes the sessions whose heartbeat is older than
``runtime.session_stale_seconds`` (:func:`close_stale_camera_sessions`; ``vigil serve`` runs a
round before it starts any camera). A stale session is closed at its last heartbeat, the last
moment its server was known to run it, so the report counts no invented hours; a row from
before heartbeats existed is closed at its start (0 h). Each closing is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.accountability import audit
from vigil.config import RuntimeConfig
from vigil.db.session import Database
from vigil.faces.gallery import GallerySnapshot
from vigil.repositories.camera_sessions import CameraSessionRepo
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow

ACTOR = "system:runtime"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: int
    camera: str
    watchlists: tuple[str, ...]


class SessionLog:
    """Records camera sessions (start/stop rows + audit events); verbs start and stop.

    ``owner`` names the process that runs the cameras (:attr:`AppContext.instance`); its
    :class:`SessionKeeper` keeps their heartbeats fresh.
    """

    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner

    def start(self, camera: str, source: str, snapshot: GallerySnapshot) -> SessionInfo:
        """``source`` is the camera URL with credentials already removed."""
        watchlists = tuple(sorted({e.watchlist_name for e in snapshot.entries}))
        enrolled = snapshot.gallery.subject_count()
        with self.db.write() as s:
            row = CameraSessionRepo(s).start(
                camera,
                pack=snapshot.pack,
                threshold=snapshot.threshold,
                watchlists=watchlists,
                started_at=utcnow(),
                owner=self.owner,
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
                    "threshold": snapshot.threshold,  # raised for this many people:
                    "min_face_px": snapshot.min_face_px,  # likewise (0: the camera's own)
                    "enrolled_people": enrolled,
                    "watchlists": list(watchlists),
                },
            )
            session = row.id
        log.info(
            "camera %s: session %d started, %s pack, threshold %.4f and minimum face size %s "
            "for %d enrolled people",
            camera,
            session,
            snapshot.pack,
            snapshot.threshold,
            f"{snapshot.min_face_px} px" if snapshot.min_face_px else "of the camera's gate",
            enrolled,
        )
        return SessionInfo(session, camera, watchlists)

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


def close_stale_camera_sessions(
    db: Database, *, actor: str, stale_after: timedelta, now: datetime | None = None
) -> int:
    """Close every open camera session whose server sent no heartbeat for ``stale_after``, at
    its last heartbeat (audited, one event each); returns how many."""
    bound = (now or utcnow()) - stale_after
    with db.write() as s:
        stale = CameraSessionRepo(s).silent_since(bound)
        for row in stale:
            row.stopped_at = row.heartbeat_at or row.started_at
            hours = (row.stopped_at - row.started_at).total_seconds() / 3600
            audit.record(
                s,
                actor=actor,
                action="camera.session_closed",
                target=row.camera,
                details={
                    "session_id": row.id,
                    "started_at": row.started_at.isoformat(timespec="seconds"),
                    "stopped_at": row.stopped_at.isoformat(timespec="seconds"),
                    "reason": "its server stopped without closing it (no heartbeat since); "
                    f"counted until its last heartbeat: {hours:.2f} h",
                },
            )
        return len(stale)


class SessionKeeper:
    """This process's side of the camera-session heartbeat; verbs beat, sweep, start, stop."""

    def __init__(self, db: Database, owner: str, config: RuntimeConfig, *, actor: str) -> None:
        self.db = db
        self.owner = owner
        self.actor = actor
        self.interval = config.session_heartbeat_seconds
        self.stale_after = timedelta(seconds=config.session_stale_seconds)
        self._loop = BackgroundLoop.periodic(
            "vigil-session-heartbeat", self._tick, self.interval, first_delay=self.interval
        )

    def beat(self) -> int:
        """Stamp this process's open sessions as still running; returns how many."""
        with self.db.write() as s:
            return CameraSessionRepo(s).beat(self.owner, utcnow())

    def sweep(self) -> int:
        """Close the sessions other (dead) servers left open; returns how many."""
        return close_stale_camera_sessions(self.db, actor=self.actor, stale_after=self.stale_after)

    def round(self) -> int:
        self.beat()
        return self.sweep()

    def _tick(self) -> None:
        self.round()

    def start(self) -> int:
        """One round now (before any camera starts), then one every heartbeat interval;
        returns how many stale sessions the first round closed."""
        closed = self.round()
        if not self._loop.running:
            self._loop.start()
        return closed

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.stop(timeout)
