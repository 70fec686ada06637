"""Threshold governance: measure the threshold for a target false-positive rate and set it.

``vigil calibrate`` runs the LFW View-2 protocol (:mod:`vigil.evaluation.lfw`) with a pack,
picks the lowest cosine threshold at which at most the target share of different-person pairs
match, and writes it to the ``settings`` table (``threshold.<pack>``, which
:mod:`vigil.accountability.threshold` then puts in force) together with the measured rate
(``threshold.<pack>.fpr``) and the full measurement (``threshold.<pack>.calibration``, JSON).
Every change is audited (``threshold.change``).

The rate is measured on 1:1 pairs. For a 1:N search against N enrolled templates the chance that a
stranger matches someone is about ``1 - (1 - fpr) ** N``; the report states the 1:1 rate.

``vigil calibrate --from-openset REPORT`` sets the video operating point instead: the threshold
and the minimum face size that ``vigil bench openset --cctv --json`` chose on its tuning half at
a stated FPIR (1:N, CCTV-like probes), with the reporting half's figures kept as the measurement
(``threshold.<pack>.calibration``) and the minimum face size in ``min_face.<pack>``. Audited as
``threshold.change`` too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from vigil.accountability import audit
from vigil.accountability.threshold import (
    calibration_key,
    fpr_key,
    min_face_key,
    threshold_key,
)
from vigil.config import Settings
from vigil.db.session import Database
from vigil.errors import InputError
from vigil.evaluation.lfw import FprThreshold, LfwResult, Progress, run_lfw, threshold_at_fpr
from vigil.evaluation.openset import VideoPoint, read_video_point
from vigil.models.base import ModelPack
from vigil.repositories.settings import SettingRepo


@dataclass(frozen=True, slots=True)
class Calibration:
    pack: str
    previous: float | None  # the stored threshold before, None if the config value was in force
    chosen: FprThreshold
    pairs: int
    accuracy: float


def apply_threshold(
    db: Database, pack: str, chosen: FprThreshold, lfw: LfwResult | None, *, actor: str
) -> Calibration:
    """Store the threshold and its measured rate in one audited transaction."""
    if not -1.0 <= chosen.threshold <= 1.0:
        raise InputError(f"threshold {chosen.threshold} is outside [-1, 1]")
    pairs = lfw.pairs if lfw else chosen.same_pairs + chosen.different_pairs
    accuracy = lfw.accuracy_mean if lfw else float("nan")
    with db.write() as s:
        repo = SettingRepo(s)
        old = repo.put(threshold_key(pack), repr(chosen.threshold), actor=actor)
        previous = float(old) if old is not None else None
        repo.put(fpr_key(pack), repr(chosen.fpr), actor=actor)
        measurement = {**asdict(chosen), "pairs": pairs, "lfw_accuracy": accuracy}
        repo.put(calibration_key(pack), json.dumps(measurement), actor=actor)
        audit.record(
            s,
            actor=actor,
            action="threshold.change",
            target=threshold_key(pack),
            details={
                "old": previous,
                "new": chosen.threshold,
                "measured_fpr": chosen.fpr,
                "target_fpr": chosen.target_fpr,
                "tpr": chosen.tpr,
                "pairs": pairs,
                "protocol": "LFW View-2 pairs",
            },
        )
    return Calibration(pack, previous, chosen, pairs, accuracy)


def calibrate(
    db: Database,
    settings: Settings,
    pack: str,
    fpr: float,
    *,
    lfw: Path,
    limit_pairs: int | None,
    actor: str,
    progress: Progress | None = None,
    model: ModelPack | None = None,
    workers: int = 1,
) -> Calibration:
    """Run LFW with ``pack``, choose the threshold for ``fpr`` and set it (audited)."""
    if not 0.0 < fpr < 1.0:
        raise InputError(f"--fpir must be between 0 and 1, got {fpr}", hint="e.g. --fpir 0.001")
    if limit_pairs is not None and limit_pairs < 2:
        raise InputError(
            "--limit-pairs must be at least 2 (one same and one different pair per fold)"
        )
    result = run_lfw(
        settings,
        pack,
        lfw=lfw,
        limit_pairs=limit_pairs,
        progress=progress,
        pack=model,
        workers=workers,
    )
    chosen = threshold_at_fpr(result, fpr)
    return apply_threshold(db, pack, chosen, result, actor=actor)


@dataclass(frozen=True, slots=True)
class VideoCalibration:
    pack: str
    previous: float | None  # the stored threshold before, None if the config value was in force
    previous_min_face: int | None
    point: VideoPoint

    @property
    def measured_fpir(self) -> float:
        """The highest reporting-half FPIR over the face sizes the point accepts."""
        return max((r.fpir for r in self.point.rows), default=float("nan"))


def apply_video_point(db: Database, point: VideoPoint, *, actor: str) -> VideoCalibration:
    """Store a video threshold and minimum face size with their measurement, audited."""
    if not -1.0 <= point.threshold <= 1.0:
        raise InputError(f"threshold {point.threshold} is outside [-1, 1]")
    if not 8 <= point.min_face_px <= 1000:
        raise InputError(f"minimum face size {point.min_face_px} px is outside 8..1000")
    if not point.rows:
        raise InputError(
            "the video point carries no reporting-half figures",
            hint="use the JSON of `vigil bench openset --cctv --json` unchanged",
        )
    pack = point.pack
    fpir = max(r.fpir for r in point.rows)
    with db.write() as s:
        repo = SettingRepo(s)
        old = repo.put(threshold_key(pack), repr(point.threshold), actor=actor)
        old_face = repo.put(min_face_key(pack), str(point.min_face_px), actor=actor)
        repo.put(fpr_key(pack), repr(fpir), actor=actor)
        measurement = {"protocol": "open-set LFW, CCTV-like probes", **point.to_dict()}
        repo.put(calibration_key(pack), json.dumps(measurement), actor=actor)
        audit.record(
            s,
            actor=actor,
            action="threshold.change",
            target=threshold_key(pack),
            details={
                "old": float(old) if old is not None else None,
                "new": point.threshold,
                "old_min_face_px": int(old_face) if old_face is not None else None,
                "min_face_px": point.min_face_px,
                "measured_fpr": fpir,
                "target_fpr": point.target_fpir,
                "gallery_size": point.n,
                "fnir": {r.variant: r.fnir for r in point.rows},
                "protocol": "open-set LFW, CCTV-like probes (tuned on one half, reported on other)",
            },
        )
    return VideoCalibration(
        pack,
        float(old) if old is not None else None,
        int(old_face) if old_face is not None else None,
        point,
    )


def calibrate_video(db: Database, pack: str, report: Path, *, actor: str) -> VideoCalibration:
    """Set the video operating point of ``pack`` from a saved open-set report (audited)."""
    return apply_video_point(db, read_video_point(report, pack), actor=actor)
