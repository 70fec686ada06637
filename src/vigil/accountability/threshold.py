"""The one place that decides the matching threshold in force for a model pack.

The threshold in force is the ``settings`` row ``threshold.<pack>`` when there is one (written,
audited, by ``vigil calibrate``: :mod:`vigil.accountability.calibrate`), else the pack's
configured value (``dlib.threshold`` / ``onnx.threshold``). The gallery the cameras match
against, the alert store, the transparency report and calibration all ask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from vigil.config import Settings
from vigil.errors import ConfigError
from vigil.repositories.settings import SettingRepo


def threshold_key(pack: str) -> str:
    """The ``settings`` key of the calibrated threshold of ``pack``."""
    return f"threshold.{pack}"


def fpr_key(pack: str) -> str:
    """The ``settings`` key of the false-positive rate measured for that threshold."""
    return f"threshold.{pack}.fpr"


def calibration_key(pack: str) -> str:
    """The ``settings`` key of the full calibration measurement (JSON)."""
    return f"threshold.{pack}.calibration"


def configured_threshold(settings: Settings, pack: str) -> float:
    """The threshold the configuration gives ``pack`` (before any calibration)."""
    if pack == "dlib":
        return settings.dlib.threshold
    if pack == "onnx":
        return settings.onnx.threshold
    raise ConfigError(
        "model_pack", f"unknown pack {pack!r} has no threshold", hint="use dlib or onnx"
    )


@dataclass(frozen=True, slots=True)
class ThresholdInForce:
    """The threshold a pack matches with now, and where it comes from."""

    pack: str
    threshold: float
    source: Literal["calibrated", "config"]
    measured_fpr: float | None  # measured by the calibration, None for the config value
    changed_at: datetime | None  # when the calibration was stored


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


def current_threshold(session: Session, settings: Settings, pack: str) -> ThresholdInForce:
    """The calibrated threshold of ``pack`` if one is stored, else the configured one."""
    repo = SettingRepo(session)
    row = repo.get(threshold_key(pack))
    if row is None:
        return ThresholdInForce(pack, configured_threshold(settings, pack), "config", None, None)
    fpr = repo.value(fpr_key(pack))
    return ThresholdInForce(
        pack=pack,
        threshold=_stored(pack, row.value, "threshold"),
        source="calibrated",
        measured_fpr=_stored(pack, fpr, "false-positive rate") if fpr is not None else None,
        changed_at=row.updated_at,
    )


def threshold_in_force(session: Session, settings: Settings, pack: str) -> float:
    """Just the value of :func:`current_threshold`."""
    return current_threshold(session, settings, pack).threshold
