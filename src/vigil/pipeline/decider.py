"""A track's match decision, and the embeddings of its shots made at most once.

A track's shots can be matched more than once: each of its first ``best_shots`` gated shots as an
early probe, then its best shots when it is due, and an early-alerted track's best shots again
for a better sighting. The best shots are often the same shots the early probes already embedded,
so :class:`Decider` remembers each shot's embedding while its track may still be matched and
embeds only the shots it has not seen (the model gives the same vector for the same shot, so a
decision is the same either way; it just costs fewer model runs, the most expensive step of the
dlib pack). What is remembered is dropped with the track's shots: when the track is decided
without an alert, refined or ended (:meth:`Decider.forget`), so an unmatched passer-by's
embeddings live no longer than its shots did.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.models.base import ModelPack
from vigil.pipeline.masking import FaceCropper
from vigil.pipeline.matcher import Matcher
from vigil.types import CandidateAlert, Detection, Embedding, FaceShot, Track


@dataclass(frozen=True, slots=True)
class KeptShot:
    """A good shot of a track plus every face detected in the same frame (for masking)."""

    shot: FaceShot
    frame_faces: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class _Made:
    """One shot's embedding, remembered under ``id(kept)``: holding the shot keeps that id from
    being given to another object while the entry lives."""

    track_id: int
    kept: KeptShot
    embedding: Embedding


class Decider:
    """One match decision for a track; one verb: :meth:`decide`."""

    def __init__(self, pack: ModelPack, matcher: Matcher, cropper: FaceCropper) -> None:
        self.pack = pack
        self.matcher = matcher
        self.cropper = cropper
        self.embedded_faces = 0  # model runs (a remembered shot is not embedded again)
        self.reused_embeddings = 0
        self._made: dict[int, _Made] = {}

    @property
    def remembered(self) -> int:
        """Shots whose embeddings are held now (of live tracks that may still be matched)."""
        return len(self._made)

    def can_match(self, track: Track) -> bool:
        return self.matcher.can_match(track.camera, track.last_seen)

    def prepare(self, wanted: list[tuple[Track, KeptShot]]) -> None:
        """Embed the shots of several tracks in one model call (an embedder that takes a batch
        runs once for all of them) and remember them for :meth:`decide`."""
        self._embed([(track.track_id, kept) for track, kept in wanted])

    def embeddings(self, track: Track, shots: list[KeptShot]) -> list[Embedding]:
        """The embeddings of ``shots``: remembered ones reused, the others made in one call."""
        made = self._embed([(track.track_id, k) for k in shots])
        self.reused_embeddings += len(shots) - made
        return [self._made[id(k)].embedding for k in shots]

    def _embed(self, shots: list[tuple[int, KeptShot]]) -> int:
        """Embed, in one call, those of ``shots`` not remembered yet; how many were embedded."""
        wanted = [(track_id, kept) for track_id, kept in shots if id(kept) not in self._made]
        if not wanted:
            return 0
        made = self.pack.embed_shots([kept.shot for _, kept in wanted])
        if len(made) != len(wanted):
            raise ValueError(
                f"Decider: the {self.pack.name} pack returned {len(made)} embeddings for "
                f"{len(wanted)} shots (expected one per shot)"
            )
        self.embedded_faces += len(made)
        for (track_id, kept), embedding in zip(wanted, made, strict=True):
            self._made[id(kept)] = _Made(track_id, kept, embedding)
        return len(made)

    def forget(self, track: Track) -> None:
        """Drop what is remembered of ``track``'s shots (decided, refined or ended)."""
        for key in [key for key, made in self._made.items() if made.track_id == track.track_id]:
            del self._made[key]

    def decide(
        self, track: Track, shots: list[KeptShot], margin: float = 0.0
    ) -> CandidateAlert | None:
        """Embed (or reuse) and match ``shots`` (best first); a candidate when they clear the
        threshold (raised by ``margin``, see :meth:`Matcher.match`)."""
        embeddings = self.embeddings(track, shots)
        matches = self.matcher.match(embeddings, track.camera, track.last_seen, margin)
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
            seen_at=best.shot.frame.captured_at,
            first_shot_monotonic=track.first_shot_monotonic,
        )
