"""The Hamilton clip through the real dlib pack: scanning the whole frame only every third
analysed frame (``dlib.full_scan_every: 3``, near the tracks between) gives the same tracks and
the same alert as scanning it every time. Figures of speed come from scripts/bench_serve.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.accountability.threshold import (
    configured_threshold,
)
from vigil.bench.throughput import MemoryGallery, memory_gallery, video_pipeline
from vigil.config import Settings
from vigil.models.base import ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.pipeline import CameraPipeline
from vigil.sources.offline import FileReader

pytestmark = [pytest.mark.slow, pytest.mark.shared]
CAP_FPS = 5.0  # a camera's default cap


def analyse(
    settings: Settings, pack: ModelPack, gallery: MemoryGallery, clip: Path, every: int
) -> tuple[CameraPipeline, FaceCounter, list[tuple[str, float]]]:
    counter = FaceCounter("cam1")  # gated at the pack's video minimum face, as cameras are
    pipeline = video_pipeline("cam1", settings, pack, gallery, counter, full_scan_every=every)
    alerts = []
    for frame in FileReader(clip, "cam1", CAP_FPS, config=settings.sources).frames():
        alerts += pipeline.process(frame)
    alerts += pipeline.flush()
    return pipeline, counter, [(a.match.entry.subject_name, a.match.score) for a in alerts]


def test_the_clip_gives_the_same_tracks_and_alert_with_a_whole_frame_scan_every_third_frame(
    model_settings: Settings, dlib_pack: ModelPack, photos: Path, hamilton_clip: Path
) -> None:
    gallery = memory_gallery(
        model_settings,
        dlib_pack,
        [photos / "lin-manuel-miranda.png", photos / "alex-lacamoire.png"],
        configured_threshold(model_settings, dlib_pack.name),
    )
    every, every_counts, every_alerts = analyse(
        model_settings, dlib_pack, gallery, hamilton_clip, 1
    )
    third, third_counts, third_alerts = analyse(
        model_settings, dlib_pack, gallery, hamilton_clip, 3
    )
    assert every.frames == third.frames > 40
    assert every.scans.near_scans == 0
    assert third.scans.near_scans > third.scans.full_scans / 2  # the cheap scans did happen
    assert [name for name, _ in third_alerts] == [name for name, _ in every_alerts]
    assert [name for name, _ in third_alerts] == ["lin-manuel-miranda"]
    assert third_alerts[0][1] == pytest.approx(every_alerts[0][1], abs=0.01)
    assert third_counts.totals().tracks == every_counts.totals().tracks
    faces, faces_every = third_counts.totals().faces, every_counts.totals().faces
    assert abs(faces - faces_every) <= max(2, faces_every // 10)  # a face or two may differ
