"""Where a camera's pipeline hands its candidate alerts (the runtime adapts the alert store)."""

from __future__ import annotations

from typing import Protocol

from vigil.types import CandidateAlert, SightingUpdate, Track


class AlertSink(Protocol):
    def save(self, candidate: CandidateAlert) -> int | None:
        """Store a candidate; its id, or None if it was refused (authority lapsed)."""

    def save_sighting(self, update: SightingUpdate) -> bool:
        """Add a track's sighting to its alert, or improve its own; False if the alert is gone."""

    def update_last_seen(self, alert_id: int, track: Track, ordinal: int = 1) -> None:
        """The alert's track (its ``ordinal``-th sighting) ended: record its last-seen time."""
