"""The threshold by watchlist size: the ladder's arithmetic and its configuration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.accountability.threshold import LADDER_CAP, threshold_for_size
from vigil.config import load_settings
from vigil.config.packs import DlibConfig, OnnxConfig, SizeThreshold
from vigil.errors import ConfigError


def ladder(*points: tuple[int, float]) -> list[SizeThreshold]:
    return [SizeThreshold(n=n, threshold=t) for n, t in points]


DLIB = ladder((1, 0.92), (10, 0.943), (100, 0.952), (1000, 0.966))
SLOPE = 0.966 - 0.952  # per decade, the last segment's


@pytest.mark.parametrize(
    ("base", "points", "n", "expected"),
    [
        (0.5, DLIB, 1, 0.92),  # at the first point
        (0.5, ladder((5, 0.9), (50, 0.95)), 2, 0.9),  # below the first point: its value
        (0.5, DLIB, 10, 0.943),  # at the points
        (0.5, DLIB, 100, 0.952),
        (0.5, DLIB, 1000, 0.966),
        (0.5, DLIB, 20, 0.943 + 0.009 * math.log10(2)),  # between, linear in log10(n)
        (0.5, DLIB, 3162, 0.966 + SLOPE * math.log10(3.162)),  # above: last slope continued
        (0.5, DLIB, 10_000, 0.966 + SLOPE),
        (0.5, DLIB, 10**9, LADDER_CAP),  # capped
        (0.5, ladder((10, 0.93)), 10_000, 0.93),  # one point: flat above it
        (0.5, [], 1000, 0.5),  # empty ladder: the base
        (0.95, DLIB, 10, 0.95),  # the base wins when stricter
        (0.999, DLIB, 10**9, 0.999),
        (0.5, DLIB, 0, 0.5),  # an empty gallery: the base
        (0.5, DLIB, -3, 0.5),
    ],
)
def test_threshold_for_size(base, points, n, expected) -> None:
    assert threshold_for_size(base, points, n) == pytest.approx(expected, abs=1e-9)


def test_the_ladder_never_gets_laxer_as_the_gallery_grows() -> None:
    values = [threshold_for_size(0.5, DLIB, n) for n in range(1, 20_000, 7)]
    assert values == sorted(values)


def test_defaults_dlib_has_the_measured_points_and_onnx_none() -> None:
    points = [(p.n, p.threshold) for p in DlibConfig().threshold_by_watchlist_size]
    assert points == [(1, 0.930), (10, 0.945), (100, 0.955), (1000, 0.966)]
    # the N = 1 point (48 px and more, pooled over 1,000 one-person galleries) is stricter than
    # the base threshold, which applies with the ladder off
    assert points[0][1] >= DlibConfig().threshold
    assert OnnxConfig().threshold_by_watchlist_size == []


@pytest.mark.parametrize("section", [DlibConfig, OnnxConfig])
@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(10, 0.93), (5, 0.95)], "n must be strictly increasing, got 10 then 5"),
        ([(10, 0.93), (10, 0.95)], "n must be strictly increasing"),
        ([(1, 0.95), (10, 0.93)], "thresholds must not decrease with n"),
        ([(0, 0.9)], "greater than or equal to 1"),
        ([(5, 1.5)], "less than or equal to 1"),
    ],
)
def test_a_bad_ladder_is_refused_naming_the_field(section, points, message) -> None:
    raw = [{"n": n, "threshold": t} for n, t in points]
    with pytest.raises(ValidationError, match="threshold_by_watchlist_size") as info:
        section(threshold_by_watchlist_size=raw)
    assert message in str(info.value)


def test_unknown_keys_of_a_point_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        DlibConfig(threshold_by_watchlist_size=[{"n": 1, "threshold": 0.9, "fpir": 0.001}])


def test_a_bad_ladder_in_the_yaml_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "vigil.yaml").write_text(
        "dlib:\n  threshold_by_watchlist_size:\n"
        "    - {n: 100, threshold: 0.95}\n    - {n: 10, threshold: 0.96}\n"
    )
    with pytest.raises(ConfigError, match="strictly increasing"):
        load_settings({"VIGIL_HOME": str(tmp_path)})
