"""The minimum face size by watchlist size and the per-pack early-alert margin: the ladder's
arithmetic, the pack defaults, and the refusal of the old ``tracking.early_margin`` key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.accountability.threshold import (
    configured_early_margin,
    configured_min_face_ladder,
    min_face_for_size,
)
from vigil.config import Settings, TrackingConfig, load_settings
from vigil.config.packs import DlibConfig, OnnxConfig, SizeMinFace
from vigil.errors import ConfigError, InputError
from vigil.evaluation.openset import read_early_margin


def ladder(*points: tuple[int, int]) -> list[SizeMinFace]:
    return [SizeMinFace(n=n, min_face_px=px) for n, px in points]


DLIB = ladder((10, 48), (1000, 64))


@pytest.mark.parametrize(
    ("base", "points", "n", "expected"),
    [
        (48, DLIB, 1, 48),  # below the first point: its value
        (48, DLIB, 2, 48),  # the e2e clip's two people
        (48, DLIB, 10, 48),  # at the first point
        (48, DLIB, 11, 64),  # >= 11 people: the next point's value at once (a step)
        (48, DLIB, 100, 64),
        (48, DLIB, 1000, 64),
        (48, DLIB, 10**6, 64),  # above the last point: its value
        (36, DLIB, 5, 48),  # a lower base is raised to the ladder
        (57, DLIB, 5, 57),  # a larger (calibrated) base wins
        (70, DLIB, 5000, 70),
        (48, [], 1000, 48),  # empty ladder: the base
        (48, DLIB, 0, 48),  # an empty gallery: the base
        (48, DLIB, -1, 48),
        (20, ladder((1, 30), (5, 40), (50, 90)), 6, 90),  # three points: the first n >= 6
        (20, ladder((1, 30), (5, 40), (50, 90)), 5, 40),
    ],
)
def test_min_face_for_size(base, points, n, expected) -> None:
    assert min_face_for_size(base, points, n) == expected


def test_the_minimum_face_never_shrinks_as_the_gallery_grows() -> None:
    values = [min_face_for_size(36, DLIB, n) for n in range(1, 5000, 3)]
    assert values == sorted(values)


@pytest.mark.parametrize(
    ("pack", "video_min", "points", "margin"),
    [
        ("dlib", 48, [(10, 48), (1000, 96)], 0.60),
        ("onnx", 64, [], 0.06),
    ],
)
def test_pack_defaults(pack: str, video_min: int, points: list, margin: float) -> None:
    settings = Settings()
    section = getattr(settings, pack)
    assert section.video_min_face_px == video_min
    assert [(p.n, p.min_face_px) for p in configured_min_face_ladder(settings, pack)] == points
    assert configured_early_margin(settings, pack) == pytest.approx(margin)


def test_each_pack_has_its_own_early_margin_and_null_turns_it_off() -> None:
    settings = Settings(dlib={"early_margin": None}, onnx={"early_margin": 0.2})
    assert configured_early_margin(settings, "dlib") is None
    assert configured_early_margin(settings, "onnx") == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="unknown pack 'other'"):
        configured_early_margin(settings, "other")


@pytest.mark.parametrize("section", [DlibConfig, OnnxConfig])
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("early_margin", -0.1, "greater than or equal to 0"),
        ("early_margin", 1.5, "less than or equal to 1"),
        ("min_face_by_watchlist_size", [(10, 48), (5, 64)], "n must be strictly increasing"),
        ("min_face_by_watchlist_size", [(10, 64), (1000, 48)], "sizes must not decrease with n"),
        ("min_face_by_watchlist_size", [(0, 48)], "greater than or equal to 1"),
        ("min_face_by_watchlist_size", [(10, 4)], "greater than or equal to 8"),
        ("min_face_by_watchlist_size", [(10, 2000)], "less than or equal to 1000"),
    ],
)
def test_bad_pack_values_are_refused_naming_the_field(section, field, value, message) -> None:
    if field == "min_face_by_watchlist_size":
        value = [{"n": n, "min_face_px": px} for n, px in value]
    with pytest.raises(ValidationError, match=field) as info:
        section(**{field: value})
    assert message in str(info.value)


MOVED = ("tracking.early_margin", "dlib.early_margin", "onnx.early_margin")


@pytest.mark.parametrize(
    ("yaml_text", "environ"),
    [
        ("tracking:\n  early_margin: 0.06\n", {}),  # the YAML file
        ("tracking:\n  early_margin: null\n", {}),  # null too: the key itself is gone
        ("tracking:\n  best_shots: 3\n  early_margin: 0.6\n", {}),
        ("", {"VIGIL_TRACKING_EARLY_MARGIN": "0.06"}),  # the environment
    ],
)
def test_the_old_tracking_early_margin_is_refused_naming_the_new_keys(
    tmp_path: Path, yaml_text: str, environ: dict[str, str]
) -> None:
    (tmp_path / "vigil.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings({"VIGIL_HOME": str(tmp_path), **environ})
    message = str(info.value)
    assert all(key in message for key in MOVED), message
    assert "Extra inputs are not permitted" not in message  # a specific message, not generic


def test_the_old_key_is_refused_in_code_too() -> None:
    with pytest.raises(ValidationError, match=r"dlib\.early_margin"):
        TrackingConfig(early_margin=0.06)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match=r"onnx\.early_margin"):
        Settings(tracking={"early_margin": 0.06})


def test_the_new_keys_load_from_the_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "vigil.yaml").write_text(
        "dlib:\n  early_margin: 0.5\n  min_face_by_watchlist_size:\n"
        "    - {n: 5, min_face_px: 40}\n    - {n: 50, min_face_px: 80}\n"
        "onnx:\n  early_margin: null\n"
    )
    settings = load_settings({"VIGIL_HOME": str(tmp_path)})
    assert settings.dlib.early_margin == pytest.approx(0.5)
    assert settings.onnx.early_margin is None
    assert min_face_for_size(48, settings.dlib.min_face_by_watchlist_size, 6) == 80


@pytest.mark.parametrize(
    ("last_line", "expected"),
    [
        ('{"early": {"chosen_margin": 0.6, "configured_margin": 0.06}}', 0.6),
        ('{"early": {"chosen_margin": null}}', None),  # none on the grid
        ('{"early": null}', None),  # a run without --cctv
        ('{"pack": "dlib"}', None),
    ],
)
def test_calibrate_reads_the_early_margin_an_open_set_run_chose(
    tmp_path: Path, last_line: str, expected: float | None
) -> None:
    report = tmp_path / "openset.txt"
    report.write_text(f"text lines of the run\n{last_line}\n")
    assert read_early_margin(report) == expected


def test_an_unreadable_open_set_report_is_an_input_error(tmp_path: Path) -> None:
    report = tmp_path / "openset.txt"
    report.write_text("not json\n")
    with pytest.raises(InputError, match="cannot read an open-set report"):
        read_early_margin(report)
