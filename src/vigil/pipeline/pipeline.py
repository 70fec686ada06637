"""The per-camera pipeline, as a straight chain of small stages:

detect (the whole frame, or near the tracks: :mod:`vigil.pipeline.scanning`) -> track -> quality
gate -> keep the best shots per track -> one match decision per track -> candidate alert.

* Each face is scored by the quality gate only while its track is undecided; shots that fail the
  gate are never embedded. Only the ``tracking.best_shots`` best shots of a track are kept.
* A track gets exactly one match decision: once it is ``decide_after_seconds`` old and has
  ``best_shots`` shots of ``GOOD_SHOT`` quality, or at ``PATIENCE`` times that age with any
  gated shot, or when it ends. Its best shots are embedded then (never every frame; a shot
  already embedded as an early probe is not embedded again, :mod:`vigil.pipeline.decider`),
  averaged and matched; then the shots and embeddings are dropped. When no gallery entry may be
  matched on this camera at that time, nothing is embedded at all.
* The quality gate's minimum face size is the gallery's (:attr:`GallerySnapshot.min_face_px`,
  chosen with its threshold for its number of enrolled people), read every frame.
* Early alert (the pack's ``early_margin``): each of the track's first ``best_shots`` shots that
  pass the gate is embedded and matched as it comes; when one clears the threshold with that
  margin, the alert is raised from that shot, without waiting. The track keeps its shots, and
  when it would have been decided (or when it ends) a clearly better set is matched again and
  updates the alert's own sighting (a :class:`~vigil.types.SightingUpdate`, never a new alert).
  Borderline or unmatched shots change nothing: the track waits for its best shots as above.
  The early shots of all the tracks tried in one frame are embedded in one call
  (:meth:`CameraPipeline._prefetch_probes`): one run of an embedder whose model takes a batch.
* An unmatched track leaves nothing but aggregate per-minute counts: no crop, no embedding, no
  track row. A matched track becomes a :class:`CandidateAlert` with a masked face crop, handed to
  the sink (an :class:`AlertSink`, e.g. the runtime's AlertStore adapter); when the track ends
  its last-seen time is updated.
* One alert per passage (:class:`Passages`), but never one face per alert: every matched track of
  the passage is its own sighting (:class:`~vigil.types.SightingUpdate`, keyed by its ordinal in
  the alert; the track key stays in memory), flagged as conflicting when two tracks of the same
  subject were in view at once. A matched track keeps its best shots; if it ends with a clearly
  better one it is matched again and its own sighting gets the better crop and score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from vigil.config import TrackingConfig
from vigil.models.base import ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.decider import Decider, KeptShot
from vigil.pipeline.masking import FaceCropper
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.quality import QualityGate
from vigil.pipeline.scanning import ScanCadence
from vigil.pipeline.sink import AlertSink
from vigil.pipeline.tracker import Tracker
from vigil.types import (
    CandidateAlert,
    Detection,
    FaceShot,
    Frame,
    SightingUpdate,
    Track,
)

log = logging.getLogger(__name__)
# A track is decided early (at decide_after_seconds) only with ``best_shots`` shots of at least
# GOOD_SHOT quality; otherwise at PATIENCE x decide_after_seconds or when it ends, with the best
# it has, so that a few blurred early shots do not decide the whole passage.
GOOD_SHOT = 0.75
PATIENCE = 3.0
# A matched track keeps its best shots; when it ends with a shot this much better than the one
# it was decided on, it is matched again and its own sighting gets the better crop and score.
REFINE_MARGIN = 0.05


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


@dataclass
class PassageTrack:
    """A matched track within a passage: its ordinal in the alert and its best decided shot."""

    track: Track
    ordinal: int
    quality: float  # quality of the best shot behind its latest match decision


@dataclass
class Passage:
    """One alert: a subject's matched tracks on this camera, each its own sighting.

    Keyed by the tracker's ephemeral track id, in memory only; the alert stores only ordinals.
    """

    subject_id: int
    alert_id: int | None
    tracks: dict[int, PassageTrack] = field(default_factory=dict)

    def last_seen(self) -> datetime:
        return max(member.track.last_seen for member in self.tracks.values())

    def add(self, track: Track, quality: float) -> PassageTrack:
        member = PassageTrack(track, len(self.tracks) + 1, quality)
        self.tracks[track.track_id] = member
        return member

    def overlaps(self, track: Track) -> bool:
        """Another of its tracks was in view while ``track`` was: two faces matched at once."""
        return any(
            key != track.track_id
            and member.track.first_seen <= track.last_seen
            and track.first_seen <= member.track.last_seen
            for key, member in self.tracks.items()
        )


class Passages:
    """One alert per passage: a subject matched again on this camera soon after is the same alert.

    Verbs: :meth:`continues` gives the subject's passage whose last sighting is within
    ``passage_gap_seconds`` of the new track's first (tracks break when a face turns away or is
    hidden for a moment); :meth:`open` starts one for a new alert; :meth:`of` finds a track's.
    A different track never merges silently: it joins the passage as its own sighting.
    """

    def __init__(self, gap_seconds: float) -> None:
        self.gap_seconds = gap_seconds
        self._latest: dict[int, Passage] = {}  # subject id -> its latest passage
        self._live: dict[int, Passage] = {}  # live matched track id -> its passage

    def continues(self, candidate: CandidateAlert) -> Passage | None:
        passage = self._latest.get(candidate.match.entry.subject_id)
        if passage is None:
            return None
        gap = (candidate.first_seen - passage.last_seen()).total_seconds()
        return passage if gap <= self.gap_seconds else None

    def open(self, candidate: CandidateAlert, track: Track, quality: float) -> Passage:
        passage = Passage(candidate.match.entry.subject_id, track.alert_id)
        self._latest[passage.subject_id] = passage
        self.join(passage, track, quality)
        return passage

    def join(self, passage: Passage, track: Track, quality: float) -> PassageTrack:
        self._live[track.track_id] = passage
        return passage.add(track, quality)

    def of(self, track: Track) -> tuple[Passage, PassageTrack] | None:
        passage = self._live.get(track.track_id)
        return None if passage is None else (passage, passage.tracks[track.track_id])

    def end(self, track: Track) -> None:
        """The track ended: it stays in its passage (for gaps and overlaps), no longer live."""
        self._live.pop(track.track_id, None)


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
    early_margin: float | None  # the pack's early-alert margin; None: every track waits
    sink: AlertSink | None = None
    scans: ScanCadence = field(default_factory=ScanCadence)  # whole frame, or near the tracks
    latest: FrameFaces | None = None
    frames: int = 0
    _embedded_tracks: set[int] = field(default_factory=set)
    _probes: dict[int, int] = field(default_factory=dict)  # early probes made per track
    _fresh: dict[int, KeptShot] = field(default_factory=dict)  # this frame's gated shots
    _early: set[int] = field(default_factory=set)  # alerted early, not yet refined when due

    def process(self, frame: Frame) -> list[CandidateAlert]:
        detections = self.scans.detect(self.pack, frame, self.tracker.live)
        self.latest = FrameFaces(frame, tuple(detections))
        self.frames += 1
        self.counter.count_faces(frame.captured_at, len(detections))
        tracks = self.tracker.update(frame, detections)
        self._gate(frame, tracks, self.latest.detections)
        self._prefetch_probes(frame)
        alerts = [a for t in self.tracker.live for a in self._step(t, frame)]
        for track in self.tracker.pop_ended():
            alerts.extend(self._end(track))
        return alerts

    def flush(self) -> list[CandidateAlert]:
        """End every open track (stream end), decide those undecided, write the counts."""
        alerts = [a for track in self.tracker.close() for a in self._end(track)]
        self.counter.flush()
        return alerts

    def _gate(self, frame: Frame, tracks: list[Track], faces: tuple[Detection, ...]) -> None:
        """Score the shots of undecided tracks, and of matched ones (for a better sighting), at
        the gallery's minimum face size when it gives one."""
        self._fresh.clear()
        min_face = self.decider.matcher.min_face_px()
        if min_face:
            self.gate.min_face_px = min_face
        for track, detection in zip(tracks, faces, strict=True):
            if track.decided and track.alert_id is None:  # an unmatched passer-by: nothing kept
                continue
            quality = self.gate.score(frame.image, detection)
            if self.gate.passes(quality):
                if track.first_shot_monotonic is None:
                    track.first_shot_monotonic = frame.monotonic
                kept = KeptShot(FaceShot(frame, detection, quality), faces)
                self.keeper.keep(track, kept)
                self._fresh[track.track_id] = kept

    def _step(self, track: Track, frame: Frame) -> list[CandidateAlert]:
        """A live track's turn: its decision when due, else an early probe of its new gated shot
        (its first ``best_shots`` gated shots are tried as they come); an early-alerted track is
        matched again (for a better sighting) when it would have been due."""
        if not track.decided:
            if self._due(track, frame):
                return self._decide(track)
            fresh = self._probe_shot(track, frame)
            if fresh is not None and self.early_margin is not None:
                return self._probe(track, fresh, self.early_margin)
            return []
        if track.track_id in self._early and self._due(track, frame, decided=True):
            self._early.discard(track.track_id)
            self._refine(track)
        return []

    def _due(self, track: Track, frame: Frame, *, decided: bool = False) -> bool:
        """Decide once old enough with a full set of best shots, or with any good shot later."""
        if track.decided is not decided or not track.best_shots:
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
            self.decider.forget(track)
            return []
        self._embedded_tracks.add(track.track_id)
        try:
            candidate = self.decider.decide(track, shots)
        finally:
            self.decider.forget(track)  # later shots (a better sighting) are new ones
        if candidate is None:
            return []
        return self._alert(track, candidate, shots[0].shot.quality.score)

    def _probe_shot(self, track: Track, frame: Frame) -> KeptShot | None:
        """The undecided, not yet due track's gated shot of this frame, if it is to be tried
        early: early alerts on and fewer than ``best_shots`` probes so far (a passer-by costs
        that many embeddings more)."""
        if track.decided or self.early_margin is None or self._due(track, frame):
            return None
        if self._probes.get(track.track_id, 0) >= self.config.best_shots:
            return None
        return self._fresh.get(track.track_id)

    def _prefetch_probes(self, frame: Frame) -> None:
        """Embed the shots of every track to be tried early in this frame in one call, so that
        an embedder whose model takes a batch runs once for all of them (the decider remembers
        them for :meth:`_probe`)."""
        wanted = [
            (track, shot)
            for track in self.tracker.live
            if (shot := self._probe_shot(track, frame)) is not None
            and self.decider.can_match(track)  # no authority here now: no embedding
        ]
        if len(wanted) >= 2:  # one probe is embedded by _probe itself
            self.decider.prepare(wanted)

    def _probe(self, track: Track, shot: KeptShot, margin: float) -> list[CandidateAlert]:
        """A new gated shot of the track, matched at once: a clear match is alerted now (the
        track keeps its shots for a better sighting later); anything else waits, as before."""
        self._probes[track.track_id] = self._probes.get(track.track_id, 0) + 1
        if not self.decider.can_match(track):  # no authority here now: no embedding
            return []
        self._embedded_tracks.add(track.track_id)
        candidate = self.decider.decide(track, [shot], margin)
        if candidate is None:
            return []
        track.decided = True
        self._early.add(track.track_id)
        return self._alert(track, candidate, shot.shot.quality.score)

    def _alert(
        self, track: Track, candidate: CandidateAlert, quality: float
    ) -> list[CandidateAlert]:
        """A matched track: a sighting of the subject's open passage, or a new alert."""
        passage = self.passages.continues(candidate)
        if passage is not None and self._join(passage, track, candidate, quality):
            return []  # the same subject again within the gap: its own sighting of that alert
        return self._open(track, candidate, quality)

    def _open(
        self, track: Track, candidate: CandidateAlert, quality: float
    ) -> list[CandidateAlert]:
        """A new alert (stored by the sink, if any) and a new passage with this track first."""
        if self.sink is not None:
            track.alert_id = self.sink.save(candidate)
            if track.alert_id is None:
                return []
        self.passages.open(candidate, track, quality)
        return [candidate]

    def _join(
        self, passage: Passage, track: Track, candidate: CandidateAlert, quality: float
    ) -> bool:
        """A different track of the subject: its own sighting, never merged silently.

        False when the alert takes no more sightings (decided, or gone): a new alert then.
        """
        if self.sink is not None and passage.alert_id is not None:
            ordinal = len(passage.tracks) + 1
            conflicting = passage.overlaps(track)
            update = SightingUpdate(passage.alert_id, ordinal, candidate, conflicting)
            if not self.sink.save_sighting(update):
                return False
        self.passages.join(passage, track, quality)
        track.alert_id = passage.alert_id
        return True

    def _refine(self, track: Track) -> None:
        """A matched track ends with a clearly better shot: match again, update its sighting."""
        try:
            self._refine_with(track, self.keeper.shots(track))
        finally:
            self.keeper.forget(track)
            self.decider.forget(track)

    def _refine_with(self, track: Track, shots: list[KeptShot]) -> None:
        found = self.passages.of(track)
        if found is None or not shots or self.sink is None or track.alert_id is None:
            return
        passage, member = found
        quality = shots[0].shot.quality.score
        if quality < member.quality + REFINE_MARGIN or not self.decider.can_match(track):
            return
        candidate = self.decider.decide(track, shots)
        if candidate is None or candidate.match.entry.subject_id != passage.subject_id:
            return
        member.quality = quality
        update = SightingUpdate(track.alert_id, member.ordinal, candidate, passage.overlaps(track))
        if not self.sink.save_sighting(update):
            track.alert_id = None

    def _end(self, track: Track) -> list[CandidateAlert]:
        alerts: list[CandidateAlert] = []
        if track.decided:
            self._refine(track)
        else:
            alerts = self._decide(track)
        self.counter.count_track(track.first_seen, embedded=track.track_id in self._embedded_tracks)
        self._embedded_tracks.discard(track.track_id)
        self._probes.pop(track.track_id, None)
        self._early.discard(track.track_id)
        self.decider.forget(track)
        found = self.passages.of(track)
        if track.alert_id is not None and self.sink is not None and found is not None:
            self.sink.update_last_seen(track.alert_id, track, found[1].ordinal)
        self.passages.end(track)
        return alerts


def build_pipeline(
    camera: str,
    pack: ModelPack,
    matcher: Matcher,
    config: TrackingConfig,
    gate: QualityGate,
    *,
    early_margin: float | None,
    counter: FaceCounter | None = None,
    sink: AlertSink | None = None,
    full_scan_every: int | None = None,
) -> CameraPipeline:
    """Wire the stages for one camera; ``early_margin``: the pack's (None: no early alerts);
    ``full_scan_every``: the pack's unless given (:mod:`vigil.pipeline.scanning`)."""
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
        early_margin=early_margin,
        sink=sink,
        scans=ScanCadence.every_or(full_scan_every, pack),
    )
