"""The early probes of one frame go to the embedder in one call (one run of a model that takes a
batch), and change nothing else: the same faces are embedded, the same alerts raised, and where
no entry may be matched nothing is embedded at all. Calls are counted, never timed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from test_early_alert import ScoreEmbedder
from test_pipeline import FPS, T0, Gallery, RecordingSink, ScoreGate, ScriptedDetector

from vigil.config import TrackingConfig
from vigil.models.base import ModelPack
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import build_pipeline
from vigil.types import AlignedFace, BBox, Detection, Embedding, Frame

EARLY = 0.5  # the early-alert margin: early bar 0.95 (threshold 0.9)


class BatchRecordingEmbedder(ScoreEmbedder):
    """ScoreEmbedder that records how many faces each call got."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        self.calls.append(len(faces))
        return super().embed(faces)


def at(x: float, score: float, quality: float) -> Detection:
    """A face at ``x`` whose embedding scores ``score`` against Wanted (see ScoreEmbedder)."""
    lm = np.full((5, 2), round(score * 100), np.float32)
    return Detection(BBox(x, 40, x + 60, 100), lm, quality)


def play(script: dict[int, list[Detection]], frames: int, gallery: Gallery | None = None):
    embedder = BatchRecordingEmbedder()
    sink = RecordingSink()
    pipeline = build_pipeline(
        "cam1",
        ModelPack("fake", ScriptedDetector(script), embedder),
        Matcher(gallery or Gallery({1: "Wanted"}), 3),
        TrackingConfig(),
        ScoreGate(),
        early_margin=EARLY,
        sink=sink,
    )
    per_frame = []
    for i in range(frames):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0, 0] = i
        stamp = T0 + timedelta(seconds=i / FPS)
        per_frame.append(pipeline.process(Frame("cam1", i, stamp, 100.0 + i, image)))
    per_frame.append(pipeline.flush())
    return per_frame, sink, embedder


def test_the_probes_of_a_frame_are_embedded_in_one_call() -> None:
    # three passers-by (borderline 0.93: no early alert) enter together and stay 2 frames
    script = {i: [at(10, 0.93, 0.6), at(110, 0.93, 0.6), at(210, 0.93, 0.6)] for i in (0, 1)}
    _, _, embedder = play(script, 2)
    assert embedder.calls[:2] == [3, 3]  # frame 0 and frame 1: one call for the three probes
    assert embedder.embedded[:6] == [0.93] * 6
    assert sum(embedder.calls) == len(embedder.embedded)


def test_batched_probes_raise_the_same_alerts_as_one_by_one() -> None:
    # a clear match and two borderline faces in the same frames: only the clear one alerts early
    faces = [at(10, 0.93, 0.6), at(110, 0.99, 0.6), at(210, 0.5, 0.6)]
    per_frame, sink, embedder = play({i: list(faces) for i in range(3)}, 3)
    assert [len(alerts) for alerts in per_frame[:3]] == [1, 0, 0]  # at once, on frame 0
    (candidate,) = sink.saved
    assert abs(candidate.match.score - 0.99) < 1e-3
    assert candidate.captured_monotonic == 100.0
    # frame 0 probes all three together; the alerted track is no longer probed after it
    assert embedder.calls[:3] == [3, 2, 2]


def test_a_single_probe_is_embedded_alone_as_before() -> None:
    _, _, embedder = play({0: [at(10, 0.93, 0.6)]}, 1)
    assert embedder.calls[0] == 1


def test_nothing_is_prefetched_where_no_entry_may_be_matched() -> None:
    script = {i: [at(10, 0.99, 0.6), at(110, 0.99, 0.6)] for i in range(3)}
    elsewhere = Gallery({1: "Wanted"}, cameras=("another-camera",))
    _, sink, embedder = play(script, 3, elsewhere)
    assert embedder.calls == [] and sink.saved == []
