"""Aggregate face counts of one camera minute: the only trace unmatched faces leave."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class MinuteCount:
    """Face detections, tracks and embedded tracks of one camera in one minute (none per person)."""

    faces: int = 0
    tracks: int = 0
    embedded_tracks: int = 0
