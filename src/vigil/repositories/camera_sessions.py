"""Camera sessions: one row per camera run (a "use" of the system), opened and closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vigil.db.models import CameraSession


class CameraSessionRepo:
    """Opens and closes ``camera_sessions`` rows (report and retention read them in bulk)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def start(
        self,
        camera: str,
        *,
        pack: str,
        threshold: float,
        watchlists: Sequence[str],
        started_at: datetime,
        owner: str | None = None,
    ) -> CameraSession:
        row = CameraSession(
            camera=camera,
            pack=pack,
            threshold=threshold,
            watchlists=list(watchlists),
            started_at=started_at,
            owner=owner,
            heartbeat_at=started_at,
        )
        self.s.add(row)
        self.s.flush()
        return row

    def stop(self, session_id: int, stopped_at: datetime) -> CameraSession | None:
        """Mark the session stopped; None when retention removed it meanwhile."""
        row = self.s.get(CameraSession, session_id)
        if row is not None:
            row.stopped_at = stopped_at
        return row

    def beat(self, owner: str, at: datetime) -> int:
        """Record a heartbeat on ``owner``'s open sessions; returns how many."""
        result = self.s.execute(
            update(CameraSession)
            .where(CameraSession.owner == owner, CameraSession.stopped_at.is_(None))
            .values(heartbeat_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def silent_since(self, bound: datetime) -> Sequence[CameraSession]:
        """Open sessions whose last heartbeat (or start, for rows without one) is before
        ``bound``: their server stopped without closing them."""
        last = func.coalesce(CameraSession.heartbeat_at, CameraSession.started_at)
        return self.s.scalars(
            select(CameraSession)
            .where(CameraSession.stopped_at.is_(None), last < bound)
            .order_by(CameraSession.id)
        ).all()
