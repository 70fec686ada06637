"""IoU face tracker: links one camera's detections across frames into ephemeral tracks.

Track ids are counters in memory only; they are never written anywhere unless the track produced
a candidate alert (and even then only the alert row is stored, not the id). A track ends when it
has not been seen for ``TrackingConfig.max_gap_seconds`` of frame time.
"""

from __future__ import annotations

from datetime import datetime

from vigil.config import TrackingConfig
from vigil.types import BBox, Detection, Frame, Track

# A face whose centre moved less than this fraction of its width still continues its track.
NEAR_FRACTION = 0.6


def _near(a: BBox, b: BBox) -> bool:
    width = max(a.width, b.width)
    if not 0.5 <= a.width / b.width <= 2.0:
        return False
    dx = (a.x1 + a.x2 - b.x1 - b.x2) / 2.0
    dy = (a.y1 + a.y2 - b.y1 - b.y2) / 2.0
    return (dx * dx + dy * dy) ** 0.5 < NEAR_FRACTION * width


class Tracker:
    """Greedy IoU (then nearness) association; one verb: :meth:`update`.

    :meth:`update` returns the track of each detection, in the detections' order. Tracks that
    ended (unseen too long) are collected by :meth:`pop_ended`; :meth:`close` ends all tracks.
    """

    def __init__(self, config: TrackingConfig, camera: str) -> None:
        self.config = config
        self.camera = camera
        self._next_id = 1
        self._live: dict[int, Track] = {}
        self._ended: list[Track] = []

    @property
    def live(self) -> list[Track]:
        return list(self._live.values())

    def update(self, frame: Frame, detections: list[Detection]) -> list[Track]:
        """Assign each detection to a live track (or a new one); returns them in detection order."""
        self._expire(frame.captured_at)
        pairs = self._pairs(detections)
        taken_tracks: set[int] = set()
        assigned: dict[int, Track] = {}
        for _, det_index, track_id in pairs:
            if det_index in assigned or track_id in taken_tracks:
                continue
            taken_tracks.add(track_id)
            assigned[det_index] = self._live[track_id]
        out: list[Track] = []
        for index, detection in enumerate(detections):
            track = assigned.get(index) or self._new_track(frame.captured_at, detection)
            track.last_seen = frame.captured_at
            track.last_box = detection.box
            track.frames_seen += 1
            out.append(track)
        return out

    def _pairs(self, detections: list[Detection]) -> list[tuple[float, int, int]]:
        """Candidate (affinity, detection index, track id) pairs, best first.

        Affinity is the IoU when it reaches the threshold; a face that moved further between two
        analysed frames (low fps, fast motion) may still continue a track when its centre is
        within :data:`NEAR_FRACTION` of a face width and its size is similar, with an affinity
        below any IoU match so that overlapping pairs always win.
        """
        pairs = []
        for det_index, detection in enumerate(detections):
            for track_id, track in self._live.items():
                overlap = detection.box.iou(track.last_box)
                if overlap >= self.config.iou_threshold and overlap > 0.0:
                    pairs.append((1.0 + overlap, det_index, track_id))
                elif _near(detection.box, track.last_box):
                    pairs.append((overlap, det_index, track_id))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return pairs

    def _new_track(self, at: datetime, detection: Detection) -> Track:
        track = Track(
            track_id=self._next_id,
            camera=self.camera,
            first_seen=at,
            last_seen=at,
            last_box=detection.box,
        )
        self._next_id += 1
        self._live[track.track_id] = track
        return track

    def _expire(self, now: datetime) -> None:
        gap = self.config.max_gap_seconds
        for track_id, track in list(self._live.items()):
            if (now - track.last_seen).total_seconds() > gap:
                self._ended.append(self._live.pop(track_id))

    def pop_ended(self, now: datetime | None = None) -> list[Track]:
        """Tracks that ended (optionally checking expiry at ``now`` first); each is given once."""
        if now is not None:
            self._expire(now)
        ended, self._ended = self._ended, []
        return ended

    def close(self) -> list[Track]:
        """End every track (stream end); returns those not yet given by :meth:`pop_ended`."""
        self._ended.extend(self._live.values())
        self._live.clear()
        return self.pop_ended()
