"""A shot embedded as an early probe is not embedded again when its track is decided, the
decision is the same as with every shot embedded afresh, and nothing of a track's embeddings is
held once it is decided without an alert or ends. Model runs are counted, never timed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from test_early_alert import ScoreEmbedder
from test_pipeline import FPS, T0, Gallery, RecordingSink, ScoreGate, ScriptedDetector

from vigil.config import TrackingConfig
from vigil.models.base import ModelPack
from vigil.pipeline.decider import Decider, KeptShot
from vigil.pipeline.masking import FaceCropper
from vigil.pipeline.matcher import Matcher
from vigil.pipeline.pipeline import CameraPipeline, build_pipeline
from vigil.types import BBox, Detection, FaceShot, Frame, Quality, Track

EARLY = 0.5  # early bar 0.95 (threshold 0.9): every score below is a borderline probe


def at(score: float, quality: float, x: float = 10) -> Detection:
    """A face whose embedding scores ``score`` against Wanted (see ScoreEmbedder)."""
    lm = np.full((5, 2), round(score * 100), np.float32)
    return Detection(BBox(x, 40, x + 60, 100), lm, quality)


def frame(i: int) -> Frame:
    image = np.zeros((240, 320, 3), np.uint8)
    image[0, 0, 0] = i
    return Frame("cam1", i, T0 + timedelta(seconds=i / FPS), 100.0 + i, image)


def pipeline_for(script: dict[int, list[Detection]]) -> tuple[CameraPipeline, ScoreEmbedder]:
    embedder = ScoreEmbedder()
    pipeline = build_pipeline(
        "cam1",
        ModelPack("fake", ScriptedDetector(script), embedder),
        Matcher(Gallery({1: "Wanted"}), 3),
        TrackingConfig(),
        ScoreGate(),
        early_margin=EARLY,
        sink=RecordingSink(),
    )
    return pipeline, embedder


def test_the_decision_reuses_the_early_probes_embeddings() -> None:
    # frames 0-2: the three early probes (borderline, best quality); then a lesser face to frame
    # 19. Decided at 3 s (no GOOD_SHOT shot) on its best shots 0.2 s+ apart: frames 0, 2 and 4.
    script = {0: [at(0.91, 0.7)], 1: [at(0.92, 0.7)], 2: [at(0.93, 0.7)]}
    script |= {i: [at(0.94, 0.6)] for i in range(3, 20)}
    pipeline, embedder = pipeline_for(script)
    alerts = [a for i in range(20) for a in pipeline.process(frame(i))]
    # embedded once each: the three probes, then only frame 4's shot (0, 2 were probes)
    assert embedder.embedded == [0.91, 0.92, 0.93, 0.94]
    assert pipeline.decider.embedded_faces == 4 and pipeline.decider.reused_embeddings == 2
    (alert,) = alerts  # the mean of 0.91, 0.93 and 0.94 clears 0.9
    assert alert.captured_monotonic == 100.0  # its best shot: frame 0
    assert pipeline.decider.remembered == 0  # decided: nothing of its shots is held


def test_a_passer_by_leaves_no_embedding_held() -> None:
    script = {i: [at(0.5, 0.6)] for i in range(20)}  # matches nothing
    pipeline, embedder = pipeline_for(script)
    for i in range(3):
        pipeline.process(frame(i))
    assert pipeline.decider.remembered == 3  # its early probes, while it is undecided
    for i in range(3, 20):
        pipeline.process(frame(i))
    assert pipeline.decider.remembered == 0  # decided at 3 s with no alert
    assert len(embedder.embedded) == 4  # 3 probes + 1 new best shot
    pipeline.flush()
    assert pipeline.decider.remembered == 0


def test_an_ended_track_drops_what_was_remembered() -> None:
    pipeline, _ = pipeline_for({0: [at(0.91, 0.7)], 1: [at(0.92, 0.7)]})
    for i in range(2):
        pipeline.process(frame(i))
    assert pipeline.decider.remembered == 2
    pipeline.flush()
    assert pipeline.decider.remembered == 0


def kept(i: int, score: float) -> KeptShot:
    detection = at(score, 0.7)
    quality = Quality(0.7, 0.7, 0.7, 0.7, None)
    return KeptShot(FaceShot(frame(i), detection, quality), (detection,))


def test_a_remembered_embedding_decides_as_one_made_afresh() -> None:
    track = Track(track_id=1, camera="cam1", first_seen=T0, last_seen=T0, last_box=at(0.9, 1).box)
    shots = [kept(0, 0.97), kept(1, 0.91), kept(2, 0.93)]
    remembering = Decider(
        ModelPack("fake", ScriptedDetector({}), ScoreEmbedder()),
        Matcher(Gallery({1: "Wanted"}), 3),
        FaceCropper(),
    )
    remembering.prepare([(track, shots[1]), (track, shots[2])])
    afresh = Decider(
        ModelPack("fake", ScriptedDetector({}), ScoreEmbedder()),
        Matcher(Gallery({1: "Wanted"}), 3),
        FaceCropper(),
    )
    a, b = remembering.decide(track, shots), afresh.decide(track, shots)
    assert a is not None and b is not None
    assert a.match.score == b.match.score and a.match.entry == b.match.entry
    assert (remembering.embedded_faces, remembering.reused_embeddings) == (3, 2)
    assert (afresh.embedded_faces, afresh.reused_embeddings) == (3, 0)


def test_shots_are_remembered_by_identity_not_by_equal_content() -> None:
    track = Track(track_id=1, camera="cam1", first_seen=T0, last_seen=T0, last_box=at(0.9, 1).box)
    embedder = ScoreEmbedder()
    decider = Decider(
        ModelPack("fake", ScriptedDetector({}), embedder),
        Matcher(Gallery({1: "Wanted"}), 3),
        FaceCropper(),
    )
    one, twin = kept(0, 0.95), kept(0, 0.95)  # equal fields, two shots
    decider.embeddings(track, [one])
    decider.embeddings(track, [twin, one])
    assert embedder.embedded == [0.95, 0.95] and decider.reused_embeddings == 1
    decider.forget(track)
    assert decider.remembered == 0
