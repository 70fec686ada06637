"""Stores the pipeline's per-camera per-minute face counts (its counts sink)."""

from __future__ import annotations

from datetime import datetime

from vigil.db.session import Database
from vigil.domain.counts import MinuteCount
from vigil.repositories.counts import CountRepo


class CountsWriter:
    """Adds one camera minute's counts to the ``face_counts`` table; one verb: :meth:`write`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, camera: str, minute: datetime, counts: MinuteCount) -> None:
        with self.db.write() as s:
            CountRepo(s).add(
                camera,
                minute,
                faces=counts.faces,
                tracks=counts.tracks,
                embedded_tracks=counts.embedded_tracks,
            )
