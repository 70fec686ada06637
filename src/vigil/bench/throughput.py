"""Throughput on a video file: Vigil's pipeline beside a naive every-frame loop.

* ``pipeline``: :class:`~vigil.pipeline.pipeline.CameraPipeline` as cameras run it (detect,
  track, quality gate, best shots, one decision per track), over the frames the camera's fps cap
  admits (``max_fps``; 0 = every frame).
* ``naive``: detect + embed every face in every frame of the file and match each face.

Both read the same file with the same model pack and gallery; the result says how many frames
each analysed, how fast (frames of *video* per second of wall time is the figure to compare:
it is what a camera at that frame rate needs), how many faces were embedded, and which subjects
each alerted on. Figures only: never asserted in tests. Pin to one core for per-core figures::

    taskset -c 0 vigil bench throughput short_hamilton_clip.mp4 --pack onnx --naive --json
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from vigil.accountability.threshold import configured_early_margin, configured_min_face
from vigil.config import Settings
from vigil.models.base import ModelPack
from vigil.pipeline.counts import FaceCounter
from vigil.pipeline.matcher import GallerySnapshot, Matcher, SnapshotSource, create_index
from vigil.pipeline.pipeline import CameraPipeline, build_pipeline
from vigil.pipeline.quality import QualityGate
from vigil.services.enrollment import FacePhotoValidator
from vigil.sources.offline import FileReader
from vigil.types import Embedding, Frame, GalleryEntry

BENCH_START = datetime(2000, 1, 1, tzinfo=UTC)
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class RunFigures:
    mode: str  # pipeline | naive
    pack: str
    frames_decoded: int
    frames_analysed: int
    video_seconds: float
    seconds: float  # wall time of decoding + analysis
    video_fps: float  # frames of video handled per wall second
    analysed_fps: float  # analysed frames per wall second
    realtime_factor: float  # video seconds per wall second
    faces_detected: int
    faces_embedded: int
    embedded_per_second: float
    alerts: int  # pipeline: candidate alerts (one per matched track); naive: matched faces
    subjects: tuple[str, ...]  # who was alerted on


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    source: str
    pipeline: RunFigures
    naive: RunFigures | None

    @property
    def speedup(self) -> float | None:
        if self.naive is None or self.naive.video_fps == 0:
            return None
        return self.pipeline.video_fps / self.naive.video_fps

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        data["speedup"] = None if self.speedup is None else round(self.speedup, 2)
        data["same_subjects"] = (
            None if self.naive is None else self.naive.subjects == self.pipeline.subjects
        )
        return data

    def to_json(self) -> str:
        return json.dumps(self.summary())


class MemoryGallery:
    """A gallery held in memory for benchmarks (photos embedded on the fly, nothing stored)."""

    def __init__(self, snapshot: GallerySnapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> GallerySnapshot:
        return self._snapshot


def memory_gallery(
    settings: Settings, pack: ModelPack, photos: Iterable[Path], threshold: float
) -> MemoryGallery:
    """Entries named after the photo files (stem), valid everywhere and always."""
    validator = FacePhotoValidator.from_settings(pack, settings)
    entries, vectors = [], []
    for number, photo in enumerate(photos, start=1):
        face = validator.validate(Path(photo).read_bytes(), Path(photo).name)
        entries.append(
            GalleryEntry(
                template_id=number,
                subject_id=number,
                subject_name=Path(photo).stem,
                watchlist_id=1,
                watchlist_name="bench",
                authorization_id=1,
                authorization_reference="bench",
                valid_from=datetime(1970, 1, 1, tzinfo=UTC),
                expires_at=datetime(9999, 1, 1, tzinfo=UTC),
                cameras=None,
            )
        )
        vectors.append(face.embedding.vector)
    index = create_index(settings.matching.index)
    import numpy as np

    index.build(np.stack(vectors) if vectors else np.zeros((0, 0), np.float32))
    return MemoryGallery(GallerySnapshot(tuple(entries), index, threshold, pack.name))


def _frames(
    source: Path, max_fps: float | None, settings: Settings
) -> tuple[FileReader, Iterable[Frame]]:
    reader = FileReader(
        source, "bench", max_fps or None, start=BENCH_START, config=settings.sources
    )
    return reader, reader.frames()


def _figures(
    mode: str,
    pack: ModelPack,
    reader: FileReader,
    seconds: float,
    analysed: int,
    detected: int,
    embedded: int,
    alerts: int,
    subjects: set[str],
) -> RunFigures:
    video_seconds = reader.decoded / reader.fps if reader.fps else 0.0
    wall = max(seconds, 1e-9)
    return RunFigures(
        mode=mode,
        pack=pack.name,
        frames_decoded=reader.decoded,
        frames_analysed=analysed,
        video_seconds=round(video_seconds, 3),
        seconds=round(seconds, 3),
        video_fps=round(reader.decoded / wall, 2),
        analysed_fps=round(analysed / wall, 2),
        realtime_factor=round(video_seconds / wall, 3),
        faces_detected=detected,
        faces_embedded=embedded,
        embedded_per_second=round(embedded / wall, 2),
        alerts=alerts,
        subjects=tuple(sorted(subjects)),
    )


def video_pipeline(
    camera: str,
    settings: Settings,
    pack: ModelPack,
    gallery: SnapshotSource,
    counter: FaceCounter,
    *,
    full_scan_every: int | None = None,
) -> CameraPipeline:
    """The per-camera pipeline as a camera builds it, over an in-memory gallery: faces gated at
    the pack's video minimum face size (a deployment's gallery raises it further for its number
    of people; quality.min_face_px is the enrollment minimum) and the pack's early margin."""
    video = settings.quality.model_copy(
        update={"min_face_px": configured_min_face(settings, pack.name)}
    )
    return build_pipeline(
        camera,
        pack,
        Matcher(gallery, settings.matching.top_k),
        settings.tracking,
        QualityGate(video),
        early_margin=configured_early_margin(settings, pack.name),
        counter=counter,
        full_scan_every=full_scan_every,
    )


def run_pipeline(
    settings: Settings,
    pack: ModelPack,
    gallery: SnapshotSource,
    source: Path,
    *,
    max_fps: float | None,
    progress: Progress | None = None,
) -> RunFigures:
    """The real per-camera pipeline over the file (no database writes), gating faces at the
    pack's video minimum face size as a camera does (a deployment's gallery raises it further
    for its number of people; quality.min_face_px is the enrollment minimum)."""
    counter = FaceCounter("bench")
    pipeline = video_pipeline("bench", settings, pack, gallery, counter)
    reader, frames = _frames(source, max_fps, settings)
    alerts, started = [], time.perf_counter()
    for frame in frames:
        alerts.extend(pipeline.process(frame))
        if progress:
            progress(reader.decoded)
    alerts.extend(pipeline.flush())
    seconds = time.perf_counter() - started
    totals = counter.totals()
    return _figures(
        "pipeline",
        pack,
        reader,
        seconds,
        pipeline.frames,
        totals.faces,
        pipeline.decider.embedded_faces,
        len(alerts),
        {a.match.entry.subject_name for a in alerts},
    )


def run_naive(
    settings: Settings,
    pack: ModelPack,
    gallery: SnapshotSource,
    source: Path,
    *,
    progress: Progress | None = None,
) -> RunFigures:
    """Detect and embed every face in every frame, match each face on its own."""
    matcher = Matcher(gallery, settings.matching.top_k)
    reader, frames = _frames(source, None, settings)
    detected = embedded = matched = analysed = 0
    subjects: set[str] = set()
    started = time.perf_counter()
    for frame in frames:
        analysed += 1
        for detection in pack.detect_frame(frame.image):
            detected += 1
            vector: Embedding = pack.embed_image(frame.image, detection)
            embedded += 1
            found = matcher.match([vector], frame.camera, frame.captured_at)
            if found:
                matched += 1
                subjects.add(found[0].entry.subject_name)
        if progress:
            progress(reader.decoded)
    seconds = time.perf_counter() - started
    return _figures("naive", pack, reader, seconds, analysed, detected, embedded, matched, subjects)


def run_throughput(
    settings: Settings,
    pack: ModelPack,
    gallery: SnapshotSource,
    source: Path,
    *,
    max_fps: float | None,
    naive: bool,
    progress: Progress | None = None,
) -> ThroughputResult:
    pipeline = run_pipeline(settings, pack, gallery, source, max_fps=max_fps, progress=progress)
    baseline = run_naive(settings, pack, gallery, source, progress=progress) if naive else None
    return ThroughputResult(source=str(source), pipeline=pipeline, naive=baseline)
