"""The per-camera pipeline, as a straight chain of small stages:

detect -> track -> quality gate -> keep the best shots per track -> one match decision per track
-> candidate alert.

* Each face is scored by the quality gate only while its track is undecided; shots that fail the
  gate are never embedded. Only the ``tracking.best_shots`` best shots of a track are kept.
* A track gets exactly one match decision: once it is ``decide_after_seconds`` old and has
  ``best_shots`` shots of ``GOOD_SHOT`` quality, or at ``PATIENCE`` times that age with any
  gated shot, or when it ends. Its best shots are embedded then (never every frame), averaged and
  matched; then the shots and embeddings are dropped. When no gallery entry may be matched on
  this camera at that time, nothing is embedded at all.
* An unmatched track leaves nothing but aggregate per-minute counts: no crop, no embedding, no
  track row. A matched track becomes a :class:`CandidateAlert` with a masked face crop, handed to
  the sink (an :class:`AlertSink`, e.g. the runtime's AlertStore adapter); when the track ends
  its last-seen time is updated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from vigil.config import TrackingConfig
from vigil.models.base import ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.masking import FaceCropper
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.quality import QualityGate
from vigil.pipeline.tracker import Tracker
from vigil.types import CandidateAlert, Detection, FaceShot, Frame, Track

log = logging.getLogger(__name__)
# A track is decided early (at decide_after_seconds) only with ``best_shots`` shots of at least
# GOOD_SHOT quality; otherwise at PATIENCE x decide_after_seconds or when it ends, with the best
# it has, so that a few blurred early shots do not decide the whole passage.
GOOD_SHOT = 0.75
PATIENCE = 3.0


class AlertSink(Protocol):
    def save(self, candidate: CandidateAlert) -> int | None:
        """Store a candidate; its id, or None if it was refused (authority lapsed)."""

    def update_last_seen(self, alert_id: int, track: Track) -> None:
        """The alert's track ended (or moved on): record its last-seen time."""


@dataclass(frozen=True, slots=True)
class KeptShot:
    """A good shot of a track plus every face detected in the same frame (for masking)."""

    shot: FaceShot
    frame_faces: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class FrameFaces:
    """The latest analysed frame and its detections (for blurred live previews)."""

    frame: Frame
    detections: tuple[Detection, ...]


class ShotKeeper:
    """Keeps the best gated shots of each undecided track; one verb: :meth:`keep`.

    A pool of the ``POOL_FACTOR x best_shots`` best shots is kept; the track's best shots are
    picked from it by quality, at least ``spacing_seconds`` apart, so that a fast camera yields
    several moments of a passage rather than three copies of one.
    """

    POOL_FACTOR = 4

    def __init__(self, best_shots: int, spacing_seconds: float = 0.0) -> None:
        self.best_shots = best_shots
        self.spacing_seconds = spacing_seconds
        self._pool: dict[int, list[KeptShot]] = {}

    def keep(self, track: Track, shot: KeptShot) -> None:
        pool = self._pool.setdefault(track.track_id, [])
        pool.append(shot)
        pool.sort(key=lambda k: -k.shot.quality.score)
        del pool[self.best_shots * self.POOL_FACTOR :]
        track.best_shots = [k.shot for k in self._pick(pool)]

    def _pick(self, pool: list[KeptShot]) -> list[KeptShot]:
        picked: list[KeptShot] = []
        for candidate in pool:
            at = candidate.shot.frame.captured_at
            if all(
                abs((p.shot.frame.captured_at - at).total_seconds()) >= self.spacing_seconds
                for p in picked
            ):
                picked.append(candidate)
                if len(picked) == self.best_shots:
                    break
        return picked

    def shots(self, track: Track) -> list[KeptShot]:
        """The track's best shots, best first."""
        return self._pick(self._pool.get(track.track_id, []))

    def forget(self, track: Track) -> None:
        self._pool.pop(track.track_id, None)
        track.best_shots = []


class Passages:
    """One alert per passage: a subject matched again on this camera soon after is the same alert.

    One verb: :meth:`continues` gives the earlier track of the same subject whose last sighting
    is within ``passage_gap_seconds`` of the new track's first (tracks break when a face turns
    away or is hidden for a moment).
    """

    def __init__(self, gap_seconds: float) -> None:
        self.gap_seconds = gap_seconds
        self._last: dict[int, Track] = {}

    def continues(self, candidate: CandidateAlert) -> Track | None:
        earlier = self._last.get(candidate.match.entry.subject_id)
        if earlier is None:
            return None
        gap = (candidate.first_seen - earlier.last_seen).total_seconds()
        return earlier if gap <= self.gap_seconds else None

    def remember(self, candidate: CandidateAlert, track: Track) -> None:
        self._last[candidate.match.entry.subject_id] = track


class Decider:
    """One match decision for a track; one verb: :meth:`decide`."""

    def __init__(self, pack: ModelPack, matcher: Matcher, cropper: FaceCropper) -> None:
        self.pack = pack
        self.matcher = matcher
        self.cropper = cropper
        self.embedded_faces = 0

    def can_match(self, track: Track) -> bool:
        return self.matcher.can_match(track.camera, track.last_seen)

    def decide(self, track: Track, shots: list[KeptShot]) -> CandidateAlert | None:
        embeddings = self.pack.embed_shots([k.shot for k in shots])
        self.embedded_faces += len(embeddings)
        matches = self.matcher.match(embeddings, track.camera, track.last_seen)
        if not matches:
            return None
        best = shots[0]
        crop = self.cropper.crop(best.shot.frame.image, best.shot.detection, best.frame_faces)
        return CandidateAlert(
            camera=track.camera,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            match=matches[0],
            crop_jpeg=crop,
            captured_monotonic=best.shot.frame.monotonic,
        )


@dataclass
class CameraPipeline:
    """One camera's chain. :meth:`process` each frame, :meth:`flush` at the end of the stream."""

    camera: str
    pack: ModelPack
    gate: QualityGate
    tracker: Tracker
    keeper: ShotKeeper
    decider: Decider
    counter: FaceCounter
    config: TrackingConfig
    passages: Passages
    sink: AlertSink | None = None
    latest: FrameFaces | None = None
    frames: int = 0
    _embedded_tracks: set[int] = field(default_factory=set)

    def process(self, frame: Frame) -> list[CandidateAlert]:
        detections = self.pack.detect(frame.image)
        self.latest = FrameFaces(frame, tuple(detections))
        self.frames += 1
        self.counter.count_faces(frame.captured_at, len(detections))
        tracks = self.tracker.update(frame, detections)
        self._gate(frame, tracks, self.latest.detections)
        alerts = [a for t in self.tracker.live if self._due(t, frame) for a in self._decide(t)]
        for track in self.tracker.pop_ended():
            alerts.extend(self._end(track))
        return alerts

    def flush(self) -> list[CandidateAlert]:
        """End every open track (stream end), decide those undecided, write the counts."""
        alerts = [a for track in self.tracker.close() for a in self._end(track)]
        self.counter.flush()
        return alerts

    def _gate(self, frame: Frame, tracks: list[Track], faces: tuple[Detection, ...]) -> None:
        for track, detection in zip(tracks, faces, strict=True):
            if track.decided:
                continue
            quality = self.gate.score(frame.image, detection)
            if self.gate.passes(quality):
                self.keeper.keep(track, KeptShot(FaceShot(frame, detection, quality), faces))

    def _due(self, track: Track, frame: Frame) -> bool:
        """Decide once old enough with a full set of best shots, or with any good shot later."""
        if track.decided or not track.best_shots:
            return False
        age = (frame.captured_at - track.first_seen).total_seconds()
        after = self.config.decide_after_seconds
        good = sum(1 for shot in track.best_shots if shot.quality.score >= GOOD_SHOT)
        return age >= after and (good >= self.config.best_shots or age >= after * PATIENCE)

    def _decide(self, track: Track) -> list[CandidateAlert]:
        shots = self.keeper.shots(track)
        track.decided = True
        self.keeper.forget(track)
        if not shots or not self.decider.can_match(track):  # no authority here now: no embedding
            return []
        self._embedded_tracks.add(track.track_id)
        candidate = self.decider.decide(track, shots)
        if candidate is None:
            return []
        earlier = self.passages.continues(candidate)
        if earlier is not None:  # the same person again within the passage gap: same alert
            track.alert_id = earlier.alert_id
            self.passages.remember(candidate, track)
            return []
        if self.sink is not None:
            track.alert_id = self.sink.save(candidate)
            if track.alert_id is None:
                return []
        self.passages.remember(candidate, track)
        return [candidate]

    def _end(self, track: Track) -> list[CandidateAlert]:
        alerts = [] if track.decided else self._decide(track)
        self.counter.count_track(track.first_seen, embedded=track.track_id in self._embedded_tracks)
        self._embedded_tracks.discard(track.track_id)
        if track.alert_id is not None and self.sink is not None:
            self.sink.update_last_seen(track.alert_id, track)
        return alerts


def build_pipeline(
    camera: str,
    pack: ModelPack,
    matcher: Matcher,
    config: TrackingConfig,
    gate: QualityGate,
    *,
    counter: FaceCounter | None = None,
    sink: AlertSink | None = None,
) -> CameraPipeline:
    """Wire the stages for one camera."""
    return CameraPipeline(
        camera=camera,
        pack=pack,
        gate=gate,
        tracker=Tracker(config, camera),
        keeper=ShotKeeper(config.best_shots, config.decide_after_seconds / config.best_shots),
        decider=Decider(pack, matcher, FaceCropper()),
        counter=counter or FaceCounter(camera),
        config=config,
        passages=Passages(config.passage_gap_seconds),
        sink=sink,
    )
