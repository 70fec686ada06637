"""Model-pack speed on a real clip: detection time per frame, alignment+embedding time per face.

Figures only; never asserted in tests. Example::

    from vigil.bench.speed import hamilton_clip, measure_pack_speed
    measure_pack_speed(create_pack(settings), hamilton_clip(shared_data_folder))
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.errors import ConfigError, InputError
from vigil.models.base import ModelPack


@dataclass(frozen=True, slots=True)
class PackSpeed:
    pack: str
    frames: int
    frame_size: str  # WxH
    faces: int  # detections over all measured frames
    detect_ms_mean: float  # per frame
    detect_ms_median: float
    embed_ms_mean: float  # per face: align + embed
    embed_ms_median: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_frames(video: Path, max_frames: int, step: int = 1) -> list[np.ndarray]:
    """Up to ``max_frames`` BGR frames, every ``step``-th, from a video file."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise InputError(f"cannot open video {video}; check the path and that it is a video file")
    frames: list[np.ndarray] = []
    index = 0
    try:
        while len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    if not frames:
        raise InputError(f"video {video} has no readable frames")
    return frames


def hamilton_clip(shared: Path) -> Path:
    """The shared 640x360 clip with up to 7 faces a frame (``SHARED/data/video``)."""
    path = shared / "data" / "video" / "short_hamilton_clip.mp4"
    if not path.is_file():
        raise ConfigError(
            "shared", f"{path} not found", hint="Set VIGIL_SHARED to the shared/ folder."
        )
    return path


def _ms(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values) * 1000.0), float(np.median(values) * 1000.0)


def measure_pack_speed(
    pack: ModelPack, video: Path, *, max_frames: int = 60, step: int = 4
) -> PackSpeed:
    """Time ``pack.detect_frame`` (the video detector) on each frame and align+embed on each face
    found (one warm-up frame)."""
    frames = read_frames(video, max_frames, step)
    warm = pack.detect_frame(frames[0])
    if warm:
        pack.embed_image(frames[0], warm[0])
    detect_s: list[float] = []
    embed_s: list[float] = []
    for frame in frames:
        t0 = time.perf_counter()
        found = pack.detect_frame(frame)
        detect_s.append(time.perf_counter() - t0)
        for detection in found:
            t0 = time.perf_counter()
            pack.embed_image(frame, detection)
            embed_s.append(time.perf_counter() - t0)
    h, w = frames[0].shape[:2]
    d_mean, d_median = _ms(detect_s)
    e_mean, e_median = _ms(embed_s)
    return PackSpeed(
        pack.name, len(frames), f"{w}x{h}", len(embed_s), d_mean, d_median, e_mean, e_median
    )
