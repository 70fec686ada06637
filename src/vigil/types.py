"""Typed, validated containers passed between pipeline stages.

Each stage takes and returns these; never anonymous tuples or ``dict[str, Any]``. Shape errors say
what was expected and what came. Containers that hold face pixels or embeddings live in memory
only; what is persisted is decided by the alert sink, and only for matched tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

# Landmark order used everywhere (ArcFace convention, image-left first):
# 0 left eye (image left), 1 right eye, 2 nose tip, 3 left mouth corner, 4 right mouth corner.
LANDMARK_COUNT = 5


def _check_image(name: str, image: np.ndarray) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        raise ValueError(f"{name}: expected a uint8 HxWx3 BGR array, got {got}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``image`` is BGR uint8 and passed by reference, never copied."""

    camera: str
    index: int
    captured_at: datetime  # wall-clock UTC time of the frame (aware)
    monotonic: float  # time.monotonic() when decoded: for latency figures
    image: np.ndarray

    def __post_init__(self) -> None:
        _check_image("Frame.image", self.image)
        if self.captured_at.tzinfo is None:
            raise ValueError("Frame.captured_at must be timezone-aware (UTC)")


@dataclass(frozen=True, slots=True)
class BBox:
    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(f"BBox: expected x2>x1 and y2>y1, got {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: BBox) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def clipped(self, width: int, height: int) -> BBox:
        return BBox(
            max(0.0, self.x1),
            max(0.0, self.y1),
            min(float(width), self.x2),
            min(float(height), self.y2),
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """A face found in one image: box, 5 landmarks (see LANDMARK_COUNT), detector score."""

    box: BBox
    landmarks: np.ndarray  # float32 (5, 2) in image pixels
    score: float

    def __post_init__(self) -> None:
        lm = self.landmarks
        if not isinstance(lm, np.ndarray) or lm.shape != (LANDMARK_COUNT, 2):
            got = getattr(lm, "shape", type(lm))
            raise ValueError(
                f"Detection.landmarks: expected shape ({LANDMARK_COUNT}, 2), got {got}"
            )


@dataclass(frozen=True, slots=True)
class Quality:
    """Quality of one face shot, each part in [0, 1]; ``score`` combines them."""

    size: float
    sharpness: float
    pose: float
    score: float
    reason: str | None = None  # why it fails the gate: too_small, too_blurred, bad_pose


@dataclass(frozen=True, slots=True)
class FaceShot:
    """One face in one frame, scored. Holds a reference to the frame, no copy."""

    frame: Frame
    detection: Detection
    quality: Quality


@dataclass(slots=True)
class Track:
    """An in-memory face track. Its id is ephemeral and never persisted unless it matches."""

    track_id: int
    camera: str
    first_seen: datetime
    last_seen: datetime
    last_box: BBox
    best_shots: list[FaceShot] = field(default_factory=list)
    frames_seen: int = 0
    decided: bool = False
    first_shot_monotonic: float | None = None  # decode time of its first gated shot (latency)
    alert_id: int | None = None  # set only when the track produced a candidate alert


@dataclass(frozen=True, slots=True)
class AlignedFace:
    """A face chip aligned for the embedder (e.g. 112x112 for ArcFace, 150x150 for dlib)."""

    image: np.ndarray
    shot: FaceShot | None = None

    def __post_init__(self) -> None:
        _check_image("AlignedFace.image", self.image)


@dataclass(frozen=True, slots=True)
class Embedding:
    """A unit-length face embedding from one model pack."""

    vector: np.ndarray  # float32 (dim,), L2-normalised
    pack: str

    def __post_init__(self) -> None:
        v = self.vector
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype != np.float32:
            raise ValueError(
                f"Embedding.vector: expected float32 1-D array, got {getattr(v, 'dtype', type(v))} "
                f"{getattr(v, 'shape', '')}"
            )
        norm = float(np.linalg.norm(v))
        if not 0.99 < norm < 1.01:
            raise ValueError(f"Embedding.vector: expected unit length, got norm {norm:.3f}")

    @staticmethod
    def normalised(vector: np.ndarray, pack: str) -> Embedding:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        n = float(np.linalg.norm(v))
        if n == 0.0 or not np.isfinite(n):
            raise ValueError("Embedding: cannot normalise a zero or non-finite vector")
        return Embedding((v / n).astype(np.float32), pack)


@dataclass(frozen=True, slots=True)
class GalleryEntry:
    """One enrolled template plus what decides whether it may be matched right now."""

    template_id: int
    subject_id: int
    subject_name: str
    watchlist_id: int
    watchlist_name: str
    authorization_id: int
    authorization_reference: str
    valid_from: datetime
    expires_at: datetime
    cameras: tuple[str, ...] | None  # None = all cameras

    def allows(self, camera: str, at: datetime) -> bool:
        """True only if the entry's authorization covers this camera at this time."""
        if not (self.valid_from <= at < self.expires_at):
            return False
        return self.cameras is None or camera in self.cameras


@dataclass(frozen=True, slots=True)
class Match:
    entry: GalleryEntry
    score: float  # cosine similarity


@dataclass(frozen=True, slots=True)
class CandidateAlert:
    """A track matched a watchlist entry. Only a candidate until two people confirm it."""

    camera: str
    first_seen: datetime
    last_seen: datetime
    match: Match
    crop_jpeg: bytes  # best probe crop, bystanders masked
    captured_monotonic: float  # monotonic time of the best frame: for latency
    context_jpeg: bytes | None = None
    seen_at: datetime | None = None  # capture time of the best frame (None: last_seen)
    # monotonic time of the track's first frame whose face passed the quality gate: the
    # "first good shot" latency clock (None: unknown)
    first_shot_monotonic: float | None = None


@dataclass(frozen=True, slots=True)
class SightingUpdate:
    """A matched track's place in an alert: a new sighting, or a better shot of its own one.

    ``ordinal`` is the track's place among the alert's matched tracks (1 = the track that opened
    the alert): the pipeline maps its in-memory track key to it; no track identity is stored.
    ``conflicting``: another track matched the same subject on this camera at an overlapping time.
    """

    alert_id: int
    ordinal: int
    candidate: CandidateAlert
    conflicting: bool = False


@dataclass(frozen=True, slots=True)
class ValidatedFace:
    """One enrollment photo that passed validation: exactly one usable face."""

    embedding: Embedding
    quality: Quality
    crop_jpeg: bytes  # the enrolled face crop, shown beside alerts
    source_name: str
