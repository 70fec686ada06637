"""CameraPipeline with fakes at the model seam: the chain's promises, counted.

* one match decision per track, however long the track lives;
* shots failing the quality gate are never embedded; a track with none is never embedded;
* at most ``best_shots`` shots per track are embedded (never every frame);
* an unmatched track leaves nothing but counts; a matched one gives one candidate with a crop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from vigil.config import TrackingConfig
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.matcher import GallerySnapshot, Matcher, create_index
from vigil.pipeline.pipeline import build_pipeline
from vigil.types import (
    AlignedFace,
    BBox,
    CandidateAlert,
    Detection,
    Embedding,
    Frame,
    GalleryEntry,
    Quality,
    SightingUpdate,
    Track,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DIM = 8
FPS = 5.0
WAITING = TrackingConfig()  # with early_margin=None: every track waits for its best shots


def unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


def face(x: float, identity: int, quality: float) -> Detection:
    """A fake face: the identity rides in the landmarks, the quality in the detector score."""
    lm = np.full((5, 2), float(identity), np.float32)
    return Detection(BBox(x, 40, x + 60, 100), lm, quality)


class ScriptedDetector(FaceDetector):
    def __init__(self, script: dict[int, list[Detection]]) -> None:
        self.script = script

    def detect(self, image: np.ndarray) -> list[Detection]:
        return list(self.script.get(int(image[0, 0, 0]), []))


class CountingEmbedder(FaceEmbedder):
    dim = DIM

    def __init__(self) -> None:
        self.embedded: list[int] = []  # identities, one per face embedded

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        return AlignedFace(np.full((8, 8, 3), int(detection.landmarks[0, 0]), np.uint8))

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        ids = [int(f.image[0, 0, 0]) for f in faces]
        self.embedded.extend(ids)
        return [Embedding(unit(i), "fake") for i in ids]


class ScoreGate:
    """Quality = the detector score; below 0.5 fails the gate as too_blurred."""

    def score(self, image: np.ndarray, detection: Detection) -> Quality:
        q = detection.score
        return Quality(q, q, q, q, None if q >= 0.5 else "too_blurred")

    def passes(self, quality: Quality) -> bool:
        return quality.reason is None


class Gallery:
    def __init__(self, identities: dict[int, str], cameras: tuple[str, ...] | None = None) -> None:
        entries = tuple(
            GalleryEntry(
                i,
                i,
                name,
                1,
                "wl",
                1,
                "ORD",
                T0 - timedelta(days=1),
                T0 + timedelta(days=1),
                cameras,
            )
            for i, name in identities.items()
        )
        index = create_index("numpy")
        index.build(np.stack([unit(i) for i in identities]))
        self.snap = GallerySnapshot(entries, index, 0.9, "fake")

    def snapshot(self) -> GallerySnapshot:
        return self.snap


class RecordingSink:
    def __init__(self) -> None:
        self.saved: list[CandidateAlert] = []
        self.ended: list[tuple[int, datetime]] = []
        self.sightings: list[SightingUpdate] = []

    def save(self, candidate: CandidateAlert) -> int | None:
        self.saved.append(candidate)
        return len(self.saved)

    def save_sighting(self, update: SightingUpdate) -> bool:
        self.sightings.append(update)
        return True

    def update_last_seen(self, alert_id: int, track: Track, ordinal: int = 1) -> None:
        self.ended.append((alert_id, track.last_seen))


def run(
    script: dict[int, list[Detection]],
    frames: int,
    *,
    config: TrackingConfig | None = None,
    watch: dict[int, str] | None = None,
    sink: RecordingSink | None = None,
):
    embedder = CountingEmbedder()
    pack = ModelPack("fake", ScriptedDetector(script), embedder)
    counter = FaceCounter("cam1")
    pipeline = build_pipeline(
        "cam1",
        pack,
        Matcher(Gallery(watch or {1: "Wanted"}), 3),
        config or WAITING,
        ScoreGate(),
        early_margin=None,
        counter=counter,
        sink=sink,
    )
    alerts = []
    for i in range(frames):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0, 0] = i
        alerts += pipeline.process(
            Frame("cam1", i, T0 + timedelta(seconds=i / FPS), float(i), image)
        )
    alerts += pipeline.flush()
    return alerts, embedder, counter


def test_one_decision_and_one_alert_per_track_however_long_it_lives() -> None:
    script = {i: [face(100 + i, 1, 0.9)] for i in range(50)}  # 10 s in view
    sink = RecordingSink()
    alerts, embedder, counter = run(script, 50, sink=sink)
    assert len(alerts) == 1 and len(sink.saved) == 1
    assert alerts[0].match.entry.subject_name == "Wanted"
    assert len(embedder.embedded) == TrackingConfig().best_shots  # not 50
    assert sink.ended == [(1, T0 + timedelta(seconds=49 / FPS))]
    assert alerts[0].crop_jpeg[:2] == b"\xff\xd8"
    assert counter.totals().tracks == 1 and counter.totals().embedded_tracks == 1


@pytest.mark.parametrize("best_shots", [1, 2, 5])
def test_at_most_best_shots_are_embedded_per_track(best_shots: int) -> None:
    script = {i: [face(100, 2, 0.6 + i / 100)] for i in range(30)}
    _, embedder, _ = run(script, 30, config=TrackingConfig(best_shots=best_shots))
    assert len(embedder.embedded) == best_shots


def test_low_quality_track_is_never_embedded_at_all() -> None:
    script = {i: [face(100, 1, 0.2)] for i in range(40)}  # the wanted person, always blurred
    alerts, embedder, counter = run(script, 40)
    assert embedder.embedded == []
    assert alerts == []
    assert counter.totals().tracks == 1 and counter.totals().embedded_tracks == 0
    assert counter.totals().faces == 40


def test_only_gated_shots_are_embedded_and_the_best_are_kept() -> None:
    # Good and blurred shots of the same track: only the good ones may reach the embedder.
    script = {i: [face(100, 1 if i % 2 else 3, 0.9 if i % 2 else 0.1)] for i in range(20)}
    alerts, embedder, _ = run(script, 20, watch={1: "Wanted", 3: "Other"})
    assert set(embedder.embedded) == {1}
    assert [a.match.entry.subject_name for a in alerts] == ["Wanted"]


def test_unmatched_track_gives_no_candidate_and_no_sink_call() -> None:
    sink = RecordingSink()
    script = {i: [face(100, 5, 0.9)] for i in range(20)}
    alerts, embedder, counter = run(script, 20, sink=sink)
    assert alerts == [] and sink.saved == [] and sink.ended == []
    assert len(embedder.embedded) == 3  # decided once, then dropped
    assert counter.totals().embedded_tracks == 1


@pytest.mark.parametrize(("passage_gap", "alerts_expected"), [(1.0, 2), (10.0, 1)])
def test_a_person_back_within_the_passage_gap_continues_the_same_alert(
    passage_gap, alerts_expected
) -> None:
    # In view 0.0-0.4 s (shorter than decide_after: decided at its end), gone 2 s, back for 0.4 s.
    script = {i: [face(100, 1, 0.9)] for i in (0, 1, 2, 13, 14, 15)}
    sink = RecordingSink()
    config = TrackingConfig(passage_gap_seconds=passage_gap)
    alerts, embedder, counter = run(script, 20, config=config, sink=sink)
    assert len(alerts) == alerts_expected == len(sink.saved)
    assert alerts[0].last_seen < T0 + timedelta(seconds=1)
    assert counter.totals().tracks == 2
    assert len(embedder.embedded) == 4  # each 0.4 s track decided once: two shots 1/3 s apart
    # the last alert's last-seen time is the second track's end
    assert sink.ended[-1] == (alerts_expected, T0 + timedelta(seconds=15 / FPS))


def test_bystanders_in_the_same_frames_leave_no_alert() -> None:
    script = {i: [face(20, 1, 0.9), face(200, 4, 0.9)] for i in range(15)}
    alerts, _, counter = run(script, 15)
    assert [a.match.entry.subject_name for a in alerts] == ["Wanted"]
    assert counter.totals().tracks == 2 and counter.totals().faces == 30


def test_candidate_crop_masks_the_bystander() -> None:
    # Real pixels: a textured face for the wanted person and, right beside it, a bystander.
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    wanted, bystander = (
        face(100, 1, 0.9),
        Detection(BBox(165, 40, 205, 100), np.full((5, 2), 4.0, np.float32), 0.9),
    )
    embedder = CountingEmbedder()
    pack = ModelPack("fake", ScriptedDetector({}), embedder)
    pack.detect_frame = lambda image: [wanted, bystander]  # type: ignore[method-assign]
    pipeline = build_pipeline(
        "cam1", pack, Matcher(Gallery({1: "Wanted"}), 3), WAITING, ScoreGate(), early_margin=None
    )
    alerts = []
    for i in range(10):
        alerts += pipeline.process(Frame("cam1", i, T0 + timedelta(seconds=i / FPS), 0.0, texture))
    (alert,) = alerts
    crop = cv2.imdecode(np.frombuffer(alert.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    # The crop starts 0.4 x 60 = 24 px left of the wanted face: the bystander sits at crop x >= 89.
    by = crop[30:80, 95:130].astype(np.float32)
    own = crop[30:80, 30:70].astype(np.float32)
    assert by.std() < own.std() / 3  # blurred: the random texture is gone


def test_a_chain_of_short_gaps_stays_one_passage() -> None:
    # Seen at 0 s, 5 s and 10 s for 0.4 s each: every gap is under 6 s, the whole span is not.
    script = {i: [face(100, 1, 0.9)] for i in (0, 1, 2, 25, 26, 27, 50, 51, 52)}
    sink = RecordingSink()
    alerts, _, counter = run(script, 55, config=TrackingConfig(passage_gap_seconds=6.0), sink=sink)
    assert len(alerts) == 1 and counter.totals().tracks == 3
    assert [alert_id for alert_id, _ in sink.ended] == [1, 1, 1]
    assert sink.ended[-1][1] == T0 + timedelta(seconds=52 / FPS)


def test_nothing_is_embedded_where_no_entry_may_be_matched() -> None:
    embedder = CountingEmbedder()
    script = {i: [face(100, 1, 0.9)] for i in range(20)}
    pack = ModelPack("fake", ScriptedDetector(script), embedder)
    elsewhere = Matcher(Gallery({1: "Wanted"}, cameras=("cam2",)), 3)
    counter = FaceCounter("cam1")
    pipeline = build_pipeline(
        "cam1", pack, elsewhere, TrackingConfig(), ScoreGate(), early_margin=0.06, counter=counter
    )
    for i in range(20):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0, 0] = i
        assert pipeline.process(Frame("cam1", i, T0 + timedelta(seconds=i / FPS), 0.0, image)) == []
    assert pipeline.flush() == []
    assert embedder.embedded == []
    assert counter.totals().tracks == 1 and counter.totals().embedded_tracks == 0


# --- Sightings: every matched track of a passage is its own sighting, never merged silently.
# Identity 7 is a look-alike: it matches "Wanted" (identity 1) at cosine 0.95 (threshold 0.9).
LOOKALIKE = 7
LOOKALIKE_SCORE = 0.95


class LookalikeEmbedder(CountingEmbedder):
    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        out = []
        for f in faces:
            i = int(f.image[0, 0, 0])
            self.embedded.append(i)
            if i == LOOKALIKE:
                v = LOOKALIKE_SCORE * unit(1) + np.sqrt(1 - LOOKALIKE_SCORE**2) * unit(2)
                out.append(Embedding.normalised(v, "fake"))
            else:
                out.append(Embedding(unit(i), "fake"))
        return out


class RefusingSink(RecordingSink):
    """The alert takes no more sightings (decided meanwhile)."""

    def save_sighting(self, update: SightingUpdate) -> bool:
        self.sightings.append(update)
        return False


def run_sightings(script, frames: int, sink: RecordingSink, config: TrackingConfig | None = None):
    embedder = LookalikeEmbedder()
    pipeline = build_pipeline(
        "cam1",
        ModelPack("fake", ScriptedDetector(script), embedder),
        Matcher(Gallery({1: "Wanted"}), 3),
        config or WAITING,
        ScoreGate(),
        early_margin=None,
        sink=sink,
    )
    for i in range(frames):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0, 0] = i
        pipeline.process(Frame("cam1", i, T0 + timedelta(seconds=i / FPS), float(i), image))
    pipeline.flush()
    return embedder


def _frames(frames: range, *faces: Detection) -> dict[int, list[Detection]]:
    return {i: list(faces) for i in frames}


def _merge(*scripts: dict[int, list[Detection]]) -> dict[int, list[Detection]]:
    out: dict[int, list[Detection]] = {}
    for script in scripts:
        for i, faces in script.items():
            out.setdefault(i, []).extend(faces)
    return out


WRONG_THEN_RIGHT_AT_ONCE = _merge(
    _frames(range(15), face(20, LOOKALIKE, 0.9)), _frames(range(3, 15), face(200, 1, 0.9))
)
WRONG_THEN_RIGHT_LATER = _merge(
    _frames(range(7), face(100, LOOKALIKE, 0.9)), _frames(range(15, 23), face(100, 1, 0.9))
)


@pytest.mark.parametrize(
    ("script", "gap", "sink_type", "alerts", "sightings"),
    [
        # a look-alike matches first and lower; the right face, in view at the same time, joins
        # the alert as its own sighting, flagged as conflicting
        (WRONG_THEN_RIGHT_AT_ONCE, 10.0, RecordingSink, [0.95], [(2, 1.0, True)]),
        # one after the other within the passage gap: a second sighting, not conflicting
        (WRONG_THEN_RIGHT_LATER, 10.0, RecordingSink, [0.95], [(2, 1.0, False)]),
        # beyond the passage gap: two alerts, no sighting added
        (WRONG_THEN_RIGHT_LATER, 1.0, RecordingSink, [0.95, 1.0], []),
        # the alert takes no more sightings (decided): the right face opens its own alert
        (WRONG_THEN_RIGHT_AT_ONCE, 10.0, RefusingSink, [0.95, 1.0], [(2, 1.0, True)]),
    ],
)
def test_another_track_of_the_subject_is_its_own_sighting_never_merged(
    script, gap, sink_type, alerts, sightings
) -> None:
    sink = sink_type()
    run_sightings(script, 25, sink, TrackingConfig(passage_gap_seconds=gap))
    assert [round(c.match.score, 2) for c in sink.saved] == alerts
    got = [(u.ordinal, round(u.candidate.match.score, 2), u.conflicting) for u in sink.sightings]
    assert got == sightings
    assert all(u.alert_id == 1 and u.candidate.crop_jpeg[:2] == b"\xff\xd8" for u in sink.sightings)


def test_a_matched_track_with_a_clearly_better_later_shot_improves_its_own_sighting() -> None:
    # Decided at 1 s on fair look-alike-ish shots; sharper shots of the same track come later.
    script = _merge(
        _frames(range(8), face(100, LOOKALIKE, 0.8)), _frames(range(8, 20), face(100, 1, 0.95))
    )
    sink = RecordingSink()
    embedder = run_sightings(script, 20, sink)
    assert [round(c.match.score, 2) for c in sink.saved] == [0.95]
    assert [(u.alert_id, u.ordinal, round(u.candidate.match.score, 2)) for u in sink.sightings] == [
        (1, 1, 1.0)
    ]
    assert embedder.embedded == [LOOKALIKE] * 3 + [1] * 3  # matched once more, at its end


def test_a_matched_track_without_a_better_shot_is_not_matched_again() -> None:
    sink = RecordingSink()
    embedder = run_sightings(_frames(range(20), face(100, 1, 0.9)), 20, sink)
    assert len(sink.saved) == 1 and sink.sightings == []
    assert len(embedder.embedded) == 3
