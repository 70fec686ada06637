"""Aggregate per-camera per-minute counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.db.models import (
    FaceCount,
)


class CountRepo:
    """Aggregate per-camera per-minute counts: the only trace of unmatched faces."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(
        self, camera: str, minute: datetime, *, faces: int, tracks: int, embedded_tracks: int
    ) -> None:
        row = self.s.scalar(
            select(FaceCount).where(FaceCount.camera == camera, FaceCount.minute == minute)
        )
        if row is None:
            row = FaceCount(camera=camera, minute=minute, faces=0, tracks=0, embedded_tracks=0)
            self.s.add(row)
        row.faces += faces
        row.tracks += tracks
        row.embedded_tracks += embedded_tracks
        self.s.flush()

    def totals(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        q = select(
            func.coalesce(func.sum(FaceCount.faces), 0),
            func.coalesce(func.sum(FaceCount.tracks), 0),
            func.coalesce(func.sum(FaceCount.embedded_tracks), 0),
        )
        if start:
            q = q.where(FaceCount.minute >= start)
        if end:
            q = q.where(FaceCount.minute < end)
        faces, tracks, embedded = self.s.execute(q).one()
        return {"faces": int(faces), "tracks": int(tracks), "embedded_tracks": int(embedded)}
