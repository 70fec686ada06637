"""The one place that decides the matching threshold and the minimum face size in force.

Vigil matches only faces seen by cameras, so the threshold in force is a *video* threshold.
It is the ``settings`` row ``threshold.<pack>`` when there is one (written, audited, by
``vigil calibrate``: :mod:`vigil.accountability.calibrate`; ``--from-openset`` takes it from the
CCTV-like open-set benchmark, the plain form from LFW's still-photo pairs), else the pack's
configured value (``dlib.threshold`` / ``onnx.threshold``, whose defaults come from the
CCTV-like benchmark: see the README's threshold section). The gallery the cameras match
against, the alert store, the transparency report and calibration all ask here.

The minimum face size for video is chosen with the threshold (a face smaller than it is too
unreliable to match at that threshold): the row ``min_face.<pack>`` when stored, else
``dlib.video_min_face_px`` / ``onnx.video_min_face_px``. It is a face size in the sense of
:func:`vigil.faces.geometry.face_size_px` (from the landmarks), the same for every pack. The
gallery asks :func:`min_face_in_force` for its N and hands the value to the cameras' quality gate
with its threshold (:class:`~vigil.faces.gallery.GallerySnapshot`).

That threshold (the *base*) is then raised for large watchlists: a stranger is compared with
every enrolled person, so the false alerts at a fixed threshold grow with N, the number of
enrolled people. ``dlib.threshold_by_watchlist_size`` / ``onnx.threshold_by_watchlist_size``
give the threshold measured for some N (the open-set table); :func:`threshold_for_size` takes
the larger of the base and that ladder at the gallery's N. The gallery passes its own N
(``enrolled``); the reports count the active gallery's subjects (:func:`enrolled_now`).

The minimum face size is raised the same way: ``dlib.min_face_by_watchlist_size`` /
``onnx.min_face_by_watchlist_size`` give the smallest face size whose miss rate stays at or under
50 % at some N (the open-set table); :func:`min_face_for_size` takes the larger of the base and
that ladder's step at N (the value of the first point whose n is at least N).

The early-alert margin is per pack too (``dlib.early_margin`` / ``onnx.early_margin``:
:func:`configured_early_margin`): a margin that suits one pack's score scale lets too many
strangers through on the other's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Literal

from sqlalchemy.orm import Session

from vigil.config import Settings
from vigil.config.packs import DlibConfig, OnnxConfig, SizeMinFace, SizeThreshold
from vigil.errors import ConfigError
from vigil.repositories.gallery import GalleryRepo
from vigil.repositories.settings import SettingRepo
from vigil.timeutil import utcnow

# The ladder never asks for more than this (a threshold of 1 would match nothing at all).
LADDER_CAP = 0.999


def threshold_key(pack: str) -> str:
    """The ``settings`` key of the calibrated threshold of ``pack``."""
    return f"threshold.{pack}"


def fpr_key(pack: str) -> str:
    """The ``settings`` key of the false-positive rate measured for that threshold."""
    return f"threshold.{pack}.fpr"


def calibration_key(pack: str) -> str:
    """The ``settings`` key of the full calibration measurement (JSON)."""
    return f"threshold.{pack}.calibration"


def min_face_key(pack: str) -> str:
    """The ``settings`` key of the calibrated minimum face size for video of ``pack``."""
    return f"min_face.{pack}"


def _pack_config(settings: Settings, pack: str, what: str) -> DlibConfig | OnnxConfig:
    if pack == "dlib":
        return settings.dlib
    if pack == "onnx":
        return settings.onnx
    raise ConfigError("model_pack", f"unknown pack {pack!r} has no {what}", hint="use dlib or onnx")


def configured_min_face(settings: Settings, pack: str) -> int:
    """The minimum face size for video the configuration gives ``pack``."""
    return _pack_config(settings, pack, "minimum face size").video_min_face_px


def configured_threshold(settings: Settings, pack: str) -> float:
    """The threshold the configuration gives ``pack`` (before any calibration)."""
    return _pack_config(settings, pack, "threshold").threshold


def configured_ladder(settings: Settings, pack: str) -> list[SizeThreshold]:
    """The threshold-by-watchlist-size points the configuration gives ``pack``."""
    return _pack_config(settings, pack, "threshold ladder").threshold_by_watchlist_size


def configured_min_face_ladder(settings: Settings, pack: str) -> list[SizeMinFace]:
    """The minimum-face-size-by-watchlist-size points the configuration gives ``pack``."""
    return _pack_config(settings, pack, "minimum face ladder").min_face_by_watchlist_size


def configured_early_margin(settings: Settings, pack: str) -> float | None:
    """The early-alert margin the configuration gives ``pack`` (None: early alerts off)."""
    return _pack_config(settings, pack, "early-alert margin").early_margin


def min_face_for_size(base: int, ladder: Sequence[SizeMinFace], n: int) -> int:
    """The minimum face size for a gallery of ``n`` enrolled people: the larger of ``base`` and
    the ladder's step at ``n`` (the value of the first point whose n is at least ``n``, the last
    point's above it). An empty ladder or ``n`` <= 0 gives ``base``."""
    if not ladder or n <= 0:
        return base
    step = next((p.min_face_px for p in ladder if n <= p.n), ladder[-1].min_face_px)
    return max(base, step)


def _ladder_value(ladder: Sequence[SizeThreshold], n: int) -> float:
    """The ladder at ``n`` (>= 1): linear in log10(n) between points, flat below the first,
    the last segment's slope continued above the last (flat for a one-point ladder)."""
    first, last = ladder[0], ladder[-1]
    if n <= first.n:
        return first.threshold
    x = math.log10(n)
    for low, high in pairwise(ladder):
        if n <= high.n:
            x0, x1 = math.log10(low.n), math.log10(high.n)
            return low.threshold + (high.threshold - low.threshold) * (x - x0) / (x1 - x0)
    if len(ladder) < 2:
        return last.threshold
    before = ladder[-2]
    slope = (last.threshold - before.threshold) / (math.log10(last.n) - math.log10(before.n))
    return last.threshold + slope * (x - math.log10(last.n))


def threshold_for_size(base: float, ladder: Sequence[SizeThreshold], n: int) -> float:
    """The threshold for a gallery of ``n`` enrolled people: the larger of ``base`` and the
    ladder at ``n`` (capped at :data:`LADDER_CAP`, never below ``base``). An empty ladder or
    ``n`` <= 0 gives ``base``."""
    if not ladder or n <= 0:
        return base
    return max(base, min(_ladder_value(ladder, n), LADDER_CAP))


def enrolled_now(session: Session, pack: str) -> int:
    """The number of distinct subjects with a template of ``pack`` in the active gallery."""
    return GalleryRepo(session).active_subject_count(pack, utcnow())


@dataclass(frozen=True, slots=True)
class ThresholdInForce:
    """The threshold a pack matches with now, and where it comes from.

    ``threshold`` is the one in force: ``base`` (calibrated or configured) raised by the
    watchlist-size ladder for ``enrolled`` people (None: not applied, ``threshold == base``).
    """

    pack: str
    threshold: float
    source: Literal["calibrated", "config"]
    measured_fpr: float | None  # measured by the calibration, None for the config value
    changed_at: datetime | None  # when the calibration was stored
    base: float | None = None  # before the ladder (None: same as threshold)
    enrolled: int | None = None  # the N the ladder was applied for


def _stored(pack: str, raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(
            threshold_key(pack),
            f"stored {what} {raw!r} is not a number",
            hint="run `vigil calibrate` again",
        ) from exc
    if not -1.0 <= value <= 1.0:
        raise ConfigError(
            threshold_key(pack),
            f"stored {what} {value} is outside [-1, 1]",
            hint="run `vigil calibrate` again",
        )
    return value


def current_threshold(
    session: Session, settings: Settings, pack: str, enrolled: int | None = None
) -> ThresholdInForce:
    """The calibrated threshold of ``pack`` if one is stored, else the configured one; with
    ``enrolled``, raised by the pack's watchlist-size ladder for that many people."""
    repo = SettingRepo(session)
    row = repo.get(threshold_key(pack))
    if row is None:
        base = ThresholdInForce(pack, configured_threshold(settings, pack), "config", None, None)
    else:
        fpr = repo.value(fpr_key(pack))
        base = ThresholdInForce(
            pack=pack,
            threshold=_stored(pack, row.value, "threshold"),
            source="calibrated",
            measured_fpr=_stored(pack, fpr, "false-positive rate") if fpr is not None else None,
            changed_at=row.updated_at,
        )
    if enrolled is None:
        return base
    value = threshold_for_size(base.threshold, configured_ladder(settings, pack), enrolled)
    return replace(base, threshold=value, base=base.threshold, enrolled=enrolled)


def threshold_in_force(
    session: Session, settings: Settings, pack: str, enrolled: int | None = None
) -> float:
    """Just the value of :func:`current_threshold`."""
    return current_threshold(session, settings, pack, enrolled).threshold


@dataclass(frozen=True, slots=True)
class MinFaceInForce:
    """The smallest face (px, landmark-based) a camera of this pack matches, and its source.

    ``min_face_px`` is the one in force: ``base`` (calibrated or configured) raised by the
    minimum-face ladder for ``enrolled`` people (None: not applied, ``min_face_px == base``).
    """

    pack: str
    min_face_px: int
    source: Literal["calibrated", "config"]
    changed_at: datetime | None
    base: int | None = None  # before the ladder (None: same as min_face_px)
    enrolled: int | None = None  # the N the ladder was applied for


def _stored_min_face(pack: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 8 <= value <= 1000:
        raise ConfigError(
            min_face_key(pack),
            f"stored minimum face size {raw!r} is not a whole number of 8 to 1000 px",
            hint="run `vigil calibrate --from-openset` again",
        )
    return value


def current_min_face(
    session: Session, settings: Settings, pack: str, enrolled: int | None = None
) -> MinFaceInForce:
    """The calibrated minimum face size for video of ``pack`` if stored, else the configured;
    with ``enrolled``, raised by the pack's minimum-face ladder for that many people."""
    row = SettingRepo(session).get(min_face_key(pack))
    if row is None:
        found = MinFaceInForce(pack, configured_min_face(settings, pack), "config", None)
    else:
        value = _stored_min_face(pack, row.value)
        found = MinFaceInForce(pack, value, "calibrated", row.updated_at)
    if enrolled is None:
        return found
    value = min_face_for_size(
        found.min_face_px, configured_min_face_ladder(settings, pack), enrolled
    )
    return replace(found, min_face_px=value, base=found.min_face_px, enrolled=enrolled)


def min_face_in_force(
    session: Session, settings: Settings, pack: str, enrolled: int | None = None
) -> int:
    """Just the value of :func:`current_min_face`."""
    return current_min_face(session, settings, pack, enrolled).min_face_px
