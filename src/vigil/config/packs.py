"""Settings of the face model packs: dlib (the default) and onnx (YuNet + an ArcFace embedder)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from vigil.config.base import StrictSection

PackName = Literal["dlib", "onnx"]

# Embedder input normalisation, in pixel units (0-255): (pixel - mean) / std.
PixelMean = Annotated[float, Field(ge=0.0, le=255.0)]
PixelStd = Annotated[float, Field(gt=0.0, le=255.0)]

LADDER_HELP = (
    "the threshold in force is the larger of the pack's threshold and this ladder's value at N, "
    "the number of enrolled people in the active gallery (piecewise linear in log10 N between "
    "points, the first value below the first point, the last segment's slope continued above "
    "the last point, at most 0.999); points from the FPIR 0.1 % rows of "
    "`vigil bench openset --cctv` (README, Threshold tuning); [] = off"
)


class SizeThreshold(StrictSection):
    """One point of a threshold ladder: the threshold for a gallery of ``n`` enrolled people."""

    n: int = Field(ge=1, description="number of enrolled people (distinct subjects) of the point")
    threshold: float = Field(
        ge=-1.0, le=1.0, description="cosine similarity a camera face needs at that size"
    )


def check_ladder(points: list[SizeThreshold]) -> list[SizeThreshold]:
    """A ladder's points must grow in ``n`` and never get laxer (the field's validator)."""
    for low, high in pairwise(points):
        if high.n <= low.n:
            raise ValueError(
                f"threshold_by_watchlist_size: n must be strictly increasing, got {low.n} then "
                f"{high.n}; list the points from the smallest watchlist to the largest"
            )
        if high.threshold < low.threshold:
            raise ValueError(
                f"threshold_by_watchlist_size: thresholds must not decrease with n, got "
                f"{low.threshold} at n={low.n} then {high.threshold} at n={high.n}; a larger "
                "watchlist needs an equal or stricter threshold"
            )
    return points


MIN_FACE_LADDER_HELP = (
    "the minimum face size in force is the larger of the pack's minimum face size (video) and "
    "this ladder's value at N, the number of enrolled people in the active gallery: the value of "
    "the first point whose n is at least N (a step up right after each point: a gallery of "
    "11 people gets the n = 1,000 value of the default), the last point's above it; points "
    "from the open-set table of `vigil bench openset --cctv` (the smallest face size whose FNIR "
    "stays at or under 50 % at that N; README, Threshold tuning); [] = off"
)


class SizeMinFace(StrictSection):
    """One point of a minimum-face-size ladder: the smallest face for ``n`` enrolled people."""

    n: int = Field(ge=1, description="number of enrolled people (distinct subjects) of the point")
    min_face_px: int = Field(
        ge=8,
        le=1000,
        description="smallest face (px, from the landmarks) a camera matches at that size",
    )


def check_min_face_ladder(points: list[SizeMinFace]) -> list[SizeMinFace]:
    """A minimum-face ladder's points must grow in ``n`` and never get smaller (the field's
    validator)."""
    for low, high in pairwise(points):
        if high.n <= low.n:
            raise ValueError(
                f"min_face_by_watchlist_size: n must be strictly increasing, got {low.n} then "
                f"{high.n}; list the points from the smallest watchlist to the largest"
            )
        if high.min_face_px < low.min_face_px:
            raise ValueError(
                f"min_face_by_watchlist_size: sizes must not decrease with n, got "
                f"{low.min_face_px} px at n={low.n} then {high.min_face_px} px at n={high.n}; a "
                "larger watchlist needs an equal or larger face"
            )
    return points


def _dlib_min_face_ladder() -> list[SizeMinFace]:
    return [SizeMinFace(n=10, min_face_px=48), SizeMinFace(n=1000, min_face_px=96)]


def early_margin_field(default: float, why: str) -> Any:
    """The ``early_margin`` field of a pack section (its default chosen for that pack)."""
    return Field(
        default,
        ge=0.0,
        le=1.0,
        description="early alerts: a track's gated shot (each of its first tracking.best_shots "
        "gated shots is tried as it comes) that scores at least threshold + early_margin x "
        "(1 - threshold) alerts at once, a fraction of the way from the threshold in force to a "
        "perfect match; a borderline score waits for the track's best shots, and later, better "
        "shots update that alert's sighting. null: every track waits for its best shots. " + why,
    )


def _dlib_ladder() -> list[SizeThreshold]:
    points = [(1, 0.930), (10, 0.945), (100, 0.955), (1000, 0.966)]
    return [SizeThreshold(n=n, threshold=t) for n, t in points]


class DlibConfig(StrictSection):
    upsample: int = Field(
        1, ge=0, le=3, description="HOG detector upsampling (finds smaller faces, slower)"
    )
    num_jitters: int = Field(
        0, ge=0, le=10, description="dlib ResNet jitters per face in video (0 = fastest)"
    )
    video_gray: bool = Field(
        True,
        description="cameras run the HOG detector on the grey copy of each frame (about a third "
        "less time than on colour; the landmarks and the embedding still use colour). Still "
        "photos (enrollment) always use colour. `vigil bench openset --cctv` measures the "
        "CCTV-like probes with this setting",
    )
    full_scan_every: int = Field(
        3,
        ge=1,
        le=30,
        description="cameras run the HOG detector over the whole frame only every Nth analysed "
        "frame, and in between only over windows around the faces they already track. A face "
        "that enters away from every tracked face is found at the next whole-frame scan: up "
        "to N analysed frames late (0.6 s at 5 fps and N = 3). 1 = the whole frame every time",
    )
    landmarks: Literal[5, 68] = Field(
        68,
        description="shape predictor used for alignment: 68 points (the alignment dlib's "
        "ResNet was trained with, about 1 ms a face) or 5 points (0.4 ms)",
    )
    still_jitters: int = Field(
        0,
        ge=0,
        le=100,
        description="ResNet jitters for each still-photo chip: its descriptor becomes the mean "
        "over this many randomly shifted, scaled and mirrored copies (about 75 ms each; 0 = off)",
    )
    still_mirror: bool = Field(
        True,
        description="still photos (enrollment, LFW): also embed the mirror image of each "
        "aligned chip (one more ResNet pass per landmark model)",
    )
    still_both_landmarks: bool = Field(
        True,
        description="still photos: also embed chips aligned by the other landmark model "
        "(5 or 68 points; doubles the cost)",
    )
    still_rotations: list[Annotated[float, Field(ge=-10.0, le=10.0)]] = Field(
        default_factory=lambda: [3.0, -3.0],
        max_length=6,
        description="still photos: also embed each aligned chip turned in-plane by these "
        "angles in degrees (each -10..10; one more ResNet pass per angle and landmark model)",
    )
    cnn_fallback: bool = Field(
        True,
        description="still photos only: when HOG finds no face, try dlib's CNN (mmod) "
        "detector (1-3 s a photo; never used on video)",
    )
    threshold: float = Field(
        0.92,
        ge=-1.0,
        le=1.0,
        description="cosine similarity a camera face needs for a match (the video threshold; "
        "default from `vigil bench openset --cctv`, see the README)",
    )
    workers: int = Field(
        2,
        ge=0,
        le=16,
        description="worker processes that run dlib's detector and ResNet for every camera and "
        "enrollment of a process, so that they do not queue behind dlib's hold on Python's GIL "
        "(about that many cores busy at once; each holds about 150 MiB of models); 0 runs dlib "
        "in the calling process (one call at a time)",
    )
    video_min_face_px: int = Field(
        48,
        ge=8,
        le=1000,
        description="smallest face (px, from the landmarks) a camera matches at that threshold "
        "(48: the smallest CCTV-like size whose FNIR stays at or under 50 % at N = 10 in "
        "`vigil bench openset --cctv`; smaller faces are not searched with dlib)",
    )
    threshold_by_watchlist_size: list[SizeThreshold] = Field(
        default_factory=_dlib_ladder,
        description=LADDER_HELP + "; the default is, at N = 1, 10, 100 and 1,000, the "
        "strictest FPIR 0.1 % threshold of dlib's CCTV-like rows of 48 px and more (`vigil bench "
        "openset --cctv`; below N = 1,000 pooled over disjoint galleries), rounded up",
    )
    min_face_by_watchlist_size: list[SizeMinFace] = Field(
        default_factory=_dlib_min_face_ladder,
        description=MIN_FACE_LADDER_HELP + "; the default is 48 px up to N = 10 and 96 px from "
        "N = 11 (dlib's FNIR <= 50 % rule in `vigil bench openset --cctv`: 48 px at N = 10, 96 px "
        "at N = 100; at N = 1,000 no measured size meets it and 96 px is the largest measured)",
    )
    early_margin: float | None = early_margin_field(
        0.60,
        "dlib's default 0.60 (0.92 -> 0.968) is from the dlib open-set run: at 0.06 65 % of the "
        "strangers alerted early at N = 1,000",
    )

    _ladder = field_validator("threshold_by_watchlist_size")(check_ladder)
    _min_face_ladder = field_validator("min_face_by_watchlist_size")(check_min_face_ladder)


class OnnxConfig(StrictSection):
    detector: Path | None = Field(
        None, description="path to a YuNet .onnx file (cv2.FaceDetectorYN)"
    )
    embedder: Path | None = Field(
        None, description="path to an ArcFace-compatible embedder .onnx file"
    )
    color_order: Literal["rgb", "bgr"] = Field(
        "rgb", description="channel order the embedder expects"
    )
    input_mean: PixelMean | tuple[PixelMean, PixelMean, PixelMean] = Field(
        127.5,
        description="the embedder sees (pixel - input_mean) / input_std, pixels 0-255: one value "
        "for every channel, or three in the embedder's channel order (see color_order)",
    )
    input_std: PixelStd | tuple[PixelStd, PixelStd, PixelStd] = Field(
        127.5,
        description="divisor after input_mean (0 < std <= 255): one value or three, as input_mean",
    )
    score_threshold: float = Field(0.7, ge=0.0, le=1.0, description="YuNet face score threshold")
    enroll_score_threshold: float = Field(
        0.85,
        ge=0.0,
        le=1.0,
        description="enrollment photos: a face YuNet scores below this is refused as "
        "not_a_face (stricter than score_threshold, which is for video)",
    )
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="YuNet non-maximum suppression")
    threshold: float = Field(
        0.505,
        ge=-1.0,
        le=1.0,
        description="cosine similarity a camera face needs for a match (the video threshold; "
        "default from `vigil bench openset --cctv`, see the README)",
    )
    video_min_face_px: int = Field(
        64,
        ge=8,
        le=1000,
        description="smallest face (px, from the landmarks) a camera matches at that threshold",
    )
    threads: int = Field(
        1,
        ge=1,
        le=64,
        description="onnxruntime intra-op threads of the embedder session (one session serves "
        "every camera of a process, each camera calling it from its own thread): 1, the default, "
        "keeps N cameras on few cores from starting N x cores threads that fight for them; raise "
        "it only for a few cameras on many cores",
    )
    full_scan_every: int = Field(
        2,
        ge=1,
        le=30,
        description="cameras run YuNet over the whole frame only every Nth analysed frame, and "
        "in between only over windows around the faces they already track (YuNet's cost grows "
        "with the pixels it scans). A face that enters away from every "
        "tracked face is found at the next whole-frame scan: up to N analysed frames after it "
        "appears (0.4 s at 5 fps and N = 2, against 0.2 s at N = 1). 1 = the whole frame every "
        "time",
    )
    opencv_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="threads OpenCV may use inside one call (YuNet's detection, and the resizes "
        "and filters of every camera), set for the whole process when the onnx pack loads: 1, "
        "the default, like onnx.threads, because cameras already run side by side on their own "
        "threads and OpenCV's shared pool only adds overhead under them; 0 keeps OpenCV's "
        "default (one per core), which helps a single camera or photo on many cores",
    )
    threshold_by_watchlist_size: list[SizeThreshold] = Field(
        default_factory=list,
        description=LADDER_HELP + "; off by default: onnx.threshold was already chosen at "
        "N = 1,000",
    )
    min_face_by_watchlist_size: list[SizeMinFace] = Field(
        default_factory=list,
        description=MIN_FACE_LADDER_HELP + "; off by default: onnx.video_min_face_px (64) was "
        "already chosen at N = 1,000",
    )
    early_margin: float | None = early_margin_field(
        0.06,
        "onnx's default 0.06 (0.505 -> 0.535) is from the onnx open-set run "
        "(`vigil bench openset --cctv`, section 'early')",
    )

    _ladder = field_validator("threshold_by_watchlist_size")(check_ladder)
    _min_face_ladder = field_validator("min_face_by_watchlist_size")(check_min_face_ladder)
