"""Early alerts (the pack's ``early_margin``) with fakes at the model seam.

The gallery's threshold is 0.9; with ``early_margin`` 0.5 the bar for an early alert is
0.9 + 0.5 x (1 - 0.9) = 0.95. A face's score against "Wanted" rides in its landmarks (see
:class:`ScoreEmbedder`), its quality in the detector score (see ``ScoreGate``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from test_pipeline import FPS, T0, Gallery, RecordingSink, ScoreGate, ScriptedDetector, unit

from vigil.config import TrackingConfig
from vigil.models.base import FaceEmbedder, ModelPack
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import build_pipeline
from vigil.types import AlignedFace, BBox, Detection, Embedding, Frame

EARLY = 0.5  # the early-alert margin: early bar 0.95


def shot(score: float, quality: float) -> Detection:
    """A face at a fixed place whose embedding scores ``score`` against Wanted (unit 1)."""
    lm = np.full((5, 2), round(score * 100), np.float32)
    return Detection(BBox(100, 40, 160, 100), lm, quality)


class ScoreEmbedder(FaceEmbedder):
    """Embeds a face as score x unit(1) + rest x unit(2): its cosine with Wanted is the score."""

    dim = 8

    def __init__(self) -> None:
        self.embedded: list[float] = []  # scores of the faces embedded, in order

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        return AlignedFace(np.full((8, 8, 3), int(detection.landmarks[0, 0]), np.uint8))

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        out = []
        for f in faces:
            score = int(f.image[0, 0, 0]) / 100
            self.embedded.append(score)
            v = score * unit(1) + np.sqrt(max(0.0, 1 - score**2)) * unit(2)
            out.append(Embedding.normalised(v, "fake"))
        return out


def play(script: list[Detection | None], margin: float | None = EARLY):
    """One track, one face per frame at 5 fps (None: no face); the alerts of each frame."""
    embedder = ScoreEmbedder()
    frames = {i: [d] for i, d in enumerate(script) if d is not None}
    sink = RecordingSink()
    pipeline = build_pipeline(
        "cam1",
        ModelPack("fake", ScriptedDetector(frames), embedder),
        Matcher(Gallery({1: "Wanted"}), 3),
        TrackingConfig(),
        ScoreGate(),
        early_margin=margin,
        sink=sink,
    )
    per_frame = []
    for i in range(len(script)):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0, 0] = i
        at = T0 + timedelta(seconds=i / FPS)
        per_frame.append(pipeline.process(Frame("cam1", i, at, 100.0 + i, image)))
    per_frame.append(pipeline.flush())
    return per_frame, sink, embedder


def alerted_at(per_frame) -> list[int]:
    return [i for i, alerts in enumerate(per_frame) for _ in alerts]


def test_a_clear_face_is_alerted_from_its_first_gated_shot() -> None:
    # two blurred frames (fail the gate), then a clear match on frame 2
    per_frame, sink, embedder = play([shot(0.99, 0.3)] * 2 + [shot(0.99, 0.6)] * 20)
    assert alerted_at(per_frame) == [2]
    (candidate,) = sink.saved
    assert candidate.match.score == pytest.approx(0.99, abs=1e-3)
    assert candidate.captured_monotonic == 102.0  # the alert's shot is the first gated one
    assert candidate.first_shot_monotonic == 102.0
    assert embedder.embedded[0] == 0.99 and sink.sightings == []


@pytest.mark.parametrize(
    ("score", "margin", "expected"),
    [
        (0.99, 0.5, [2]),  # clears the bar 0.95: at once
        (0.96, 0.5, [2]),  # just over the bar: at once
        (0.93, 0.5, [6]),  # borderline (0.9 <= 0.93 < 0.95): waits for its best shots (1 s)
        (0.99, None, [6]),  # early alerts off: waits, as before
        (0.99, 1.0, [6]),  # the bar is a perfect match: waits
        (0.5, 0.5, []),  # no match: waits, and stays unmatched
    ],
)
def test_only_a_clear_match_is_alerted_early(score, margin, expected) -> None:
    script = [shot(score, 0.3)] * 2 + [shot(score, 0.9)] * 20
    per_frame, sink, _ = play(script, margin)
    assert alerted_at(per_frame) == expected
    assert len(sink.saved) == len(expected)


def test_a_borderline_face_waits_and_the_alert_carries_the_first_shot_clock() -> None:
    per_frame, sink, embedder = play([shot(0.93, 0.6)] + [shot(0.93, 0.9)] * 20)
    assert alerted_at(per_frame) == [5]  # 1 s after the track appeared, with 3 good shots
    (candidate,) = sink.saved
    assert candidate.first_shot_monotonic == 100.0  # its first gated shot, not its best
    assert candidate.captured_monotonic > 100.0
    # its first best_shots gated shots (frames 0-2) were probed one by one; the decision's best
    # shots (frames 1, 3 and 5, 0.2 s+ apart) embed only 3 and 5: frame 1's probe is reused
    assert TrackingConfig().best_shots == 3
    assert embedder.embedded == [0.93] * 5


def test_a_clear_shot_after_a_borderline_one_alerts_at_once() -> None:
    per_frame, sink, _ = play([shot(0.93, 0.6), shot(0.99, 0.7)] + [shot(0.93, 0.6)] * 20)
    assert alerted_at(per_frame) == [1]
    (candidate,) = sink.saved
    assert candidate.captured_monotonic == 101.0 and candidate.first_shot_monotonic == 100.0


def test_probes_stop_after_best_shots_gated_shots() -> None:
    # three borderline shots use up the probes; a clear fourth shot waits for the decision
    per_frame, sink, embedder = play([shot(0.93, 0.6)] * 3 + [shot(0.99, 0.9)] * 20)
    assert alerted_at(per_frame) == [7]  # three good shots 1/3 s apart: frames 3, 5 and 7
    assert len(sink.saved) == 1
    assert embedder.embedded == [0.93] * 3 + [0.99] * 3  # no fourth probe


def test_a_better_later_shot_updates_the_early_alert_not_a_new_one() -> None:
    # a fair first shot clears the bar; sharper, better-scoring shots follow
    per_frame, sink, embedder = play([shot(0.96, 0.6)] * 3 + [shot(0.99, 0.95)] * 20)
    assert alerted_at(per_frame) == [0]
    assert len(sink.saved) == 1
    (update,) = sink.sightings  # matched again when it would have been decided (1 s)
    assert (update.alert_id, update.ordinal) == (1, 1)  # the alert's own sighting
    assert update.candidate.match.score == pytest.approx(0.99, abs=1e-3)
    assert update.candidate.captured_monotonic > 102.0  # a sharper shot's crop
    assert embedder.embedded == [0.96] + [0.99] * 3  # the first shot, then the best three


def test_an_early_alert_without_better_shots_is_not_matched_again() -> None:
    _, sink, embedder = play([shot(0.97, 0.9)] * 25)
    assert len(sink.saved) == 1 and sink.sightings == []
    assert embedder.embedded == [0.97]  # one embedding for the whole track


def test_a_short_track_alerted_early_is_refined_at_its_end() -> None:
    # gone after 0.6 s, before it would be decided: its better last shot refines at its end
    per_frame, sink, _ = play([shot(0.96, 0.6), shot(0.96, 0.6), shot(0.99, 0.95)] + [None] * 10)
    assert alerted_at(per_frame) == [0]
    (update,) = sink.sightings
    assert update.ordinal == 1 and update.candidate.captured_monotonic == 102.0  # the sharp one
    assert update.candidate.match.score > sink.saved[0].match.score  # its best shots, averaged
    assert len(sink.ended) == 1  # its last-seen time recorded once
