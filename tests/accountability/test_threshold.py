"""The threshold in force: the calibrated value when stored, else the pack's configured one."""

from __future__ import annotations

import pytest

from vigil.accountability.threshold import (
    configured_threshold,
    current_threshold,
    threshold_in_force,
)
from vigil.config import Settings
from vigil.db.models import Setting
from vigil.db.session import Database
from vigil.errors import ConfigError


@pytest.mark.parametrize("pack", ["dlib", "onnx"])
def test_without_calibration_the_config_value_is_in_force(
    db: Database, settings: Settings, pack: str
) -> None:
    with db.read() as s:
        found = current_threshold(s, settings, pack)
    assert (found.source, found.measured_fpr, found.changed_at) == ("config", None, None)
    assert found.threshold == configured_threshold(settings, pack)
    assert found.threshold == getattr(settings, pack).threshold


def test_a_calibrated_value_wins_and_carries_its_rate(db: Database, settings: Settings) -> None:
    with db.write() as s:
        s.add(Setting(key="threshold.onnx", value="0.41"))
        s.add(Setting(key="threshold.onnx.fpr", value="0.0009"))
    with db.read() as s:
        found = current_threshold(s, settings, "onnx")
        assert threshold_in_force(s, settings, "onnx") == pytest.approx(0.41)
        assert threshold_in_force(s, settings, "dlib") == settings.dlib.threshold
    assert (found.source, found.measured_fpr) == ("calibrated", pytest.approx(0.0009))
    assert found.changed_at is not None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"threshold.dlib": "abc"}, "not a number"),
        ({"threshold.dlib": "1.5"}, "outside"),
        ({"threshold.dlib": "0.5", "threshold.dlib.fpr": "x"}, "false-positive rate 'x'"),
    ],
)
def test_a_broken_stored_value_is_a_config_error(
    db: Database, settings: Settings, rows: dict[str, str], message: str
) -> None:
    with db.write() as s:
        s.add_all(Setting(key=k, value=v) for k, v in rows.items())
    with db.read() as s, pytest.raises(ConfigError, match=message):
        current_threshold(s, settings, "dlib")


def test_an_unknown_pack_has_no_threshold(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown pack 'sphereface'"):
        configured_threshold(settings, "sphereface")
