"""Open-set metrics on synthetic scores: threshold at FPIR, FNIR, nested galleries, the split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vigil.errors import InputError
from vigil.evaluation.openset import (
    RankOne,
    Searches,
    VideoPoint,
    choose_video_point,
    design_half,
    fnir_at,
    fpir_at,
    half_of,
    operating_row,
    read_video_point,
    threshold_at_fpir,
)

INF = float("inf")


@pytest.mark.parametrize(
    ("nonmated", "target", "accepted_at_most", "above", "below_or_at"),
    [
        # 10 non-mated searches, 1 % -> none may reach t: t just above the best impostor
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 0.01, 0, 0.95, None),
        # 10 searches, 10 % -> one may: t just above the second best
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 0.10, 1, 0.9, 0.95),
        # 10 searches, 25 % -> two may
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 0.25, 2, 0.8, 0.9),
        # a tie at the cut: both tied searches are refused (conservative), FPIR stays <= target
        ([0.1, 0.2, 0.5, 0.5], 0.25, 0, 0.5, None),
        # misses (-inf) never reach a threshold and never count as alerts
        ([-INF, -INF, -INF, 0.3], 0.2, 0, 0.3, None),
        # ... and when the allowed share lies among the misses, every real face may pass
        ([-INF, -INF, -INF, 0.3], 0.25, 1, None, -1.0),
        # every search a miss: any threshold keeps FPIR at 0; the lowest is -1
        ([-INF, -INF], 0.01, 0, None, -1.0),
        # target 0 -> nothing may pass
        ([0.2, 0.4], 0.0, 0, 0.4, None),
    ],
)
def test_threshold_at_fpir(
    nonmated: list[float],
    target: float,
    accepted_at_most: int,
    above: float | None,
    below_or_at: float | None,
) -> None:
    scores = np.array(nonmated)
    t = threshold_at_fpir(scores, target)
    assert int(np.sum(scores >= t)) <= accepted_at_most
    assert fpir_at(scores, t) <= target + 1e-12
    if above is not None:
        assert t > above and t == pytest.approx(above)
    if below_or_at is not None:
        assert t <= below_or_at


@pytest.mark.parametrize(
    ("scores", "target", "message"),
    [([0.1], 1.0, "in \\[0, 1\\)"), ([0.1], -0.1, "in \\[0, 1\\)"), ([], 0.01, "non-mated")],
)
def test_threshold_at_fpir_refuses(scores: list[float], target: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        threshold_at_fpir(np.array(scores), target)


@pytest.mark.parametrize(
    ("top", "right", "threshold", "fnir"),
    [
        ([0.9, 0.8, 0.7, 0.6], [True, True, True, True], 0.75, 0.5),  # two below t
        ([0.9, 0.8, 0.7, 0.6], [True, False, True, True], 0.5, 0.25),  # a wrong rank-1 is a miss
        ([0.9, -INF], [True, False], 0.5, 0.5),  # a detector miss is a false negative
        ([0.9, 0.9], [True, True], 0.95, 1.0),
        ([0.9, 0.9], [True, True], 0.9, 0.0),  # score == t is accepted
    ],
)
def test_fnir_counts_wrong_rank_one_and_misses(
    top: list[float], right: list[bool], threshold: float, fnir: float
) -> None:
    result = RankOne(np.array(top), np.array(right), np.empty(0))
    assert fnir_at(result, threshold) == pytest.approx(fnir)


def _searches() -> Searches:
    # gallery of 3; mated probes of persons 0, 1, 2; two non-mated probes
    mated = np.array(
        [
            [0.9, 0.1, 0.2],  # person 0, right
            [0.3, 0.6, 0.7],  # person 1, but gallery entry 2 scores higher once present
            [0.1, 0.2, 0.8],  # person 2
        ]
    )
    nonmated = np.array([[0.2, 0.3, 0.75], [-INF, -INF, -INF]])
    return Searches(mated, np.array([0, 1, 2]), nonmated)


@pytest.mark.parametrize(
    ("n", "mated_top", "mated_right", "nonmated_top"),
    [
        (1, [0.9], [True], [0.2, -INF]),
        (2, [0.9, 0.6], [True, True], [0.3, -INF]),
        (3, [0.9, 0.7, 0.8], [True, False, True], [0.75, -INF]),
    ],
)
def test_nested_galleries_take_the_first_n(
    n: int, mated_top: list[float], mated_right: list[bool], nonmated_top: list[float]
) -> None:
    result = _searches().at(n)
    assert result.mated_top.tolist() == mated_top
    assert result.mated_right.tolist() == mated_right
    assert result.nonmated_top.tolist() == nonmated_top
    assert result.nonmated_misses == 1


def test_fpir_grows_with_n_at_a_fixed_threshold() -> None:
    s = _searches()
    assert [fpir_at(s.at(n).nonmated_top, 0.5) for n in (1, 2, 3)] == [0.0, 0.0, 0.5]


def test_operating_row_tunes_on_one_half_and_reports_on_the_other() -> None:
    tune = _searches()
    report = Searches(
        np.array([[0.95, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.85]]),
        np.array([0, 1, 2]),
        np.array([[0.8, 0.0, 0.0], [0.1, 0.1, 0.1]]),
    )
    row = operating_row("clean", 3, 0.01, tune, report)
    assert row.threshold == pytest.approx(0.75) and row.threshold > 0.75  # from tune's impostor
    assert row.fpir == 0.5  # report's 0.8 impostor passes: measured, not tuned away
    assert row.fnir == pytest.approx(1 / 3)  # person 1 at 0.5 is below
    assert (row.mated, row.nonmated, row.mated_misses, row.nonmated_misses) == (3, 2, 0, 0)


def _identities() -> dict[str, list[str]]:
    people = {
        f"P{i:03d}": [f"P{i:03d}/P{i:03d}_{k:04d}.jpg" for k in range(1, 4)] for i in range(60)
    }
    people |= {f"S{i:03d}": [f"S{i:03d}/S{i:03d}_0001.jpg"] for i in range(80)}
    return people


def test_design_halves_are_disjoint_deterministic_and_never_enroll_a_stranger() -> None:
    ids = _identities()
    tune = design_half(ids, "tune", gallery_size=1000, mated_per_id=2, nonmated=20)
    report = design_half(ids, "report", gallery_size=1000, mated_per_id=2, nonmated=20)
    assert tune == design_half(ids, "tune", gallery_size=1000, mated_per_id=2, nonmated=20)
    names = {h: {k.split("/")[0] for k in d.keys} for h, d in (("t", tune), ("r", report))}
    assert names["t"] and names["r"] and not names["t"] & names["r"]
    assert all(half_of(n) == "tune" for n in names["t"])
    for d in (tune, report):
        strangers = {k.split("/")[0] for k in d.nonmated}
        assert len(d.nonmated) == 20 and not strangers & {k.split("/")[0] for k in d.gallery}
        # several-photo people first in the gallery, each mated probe points at its own person
        assert d.gallery[0].startswith("P")
        for key, mate in zip(d.mated, d.mate, strict=True):
            assert key.split("/")[0] == d.gallery[mate].split("/")[0] and key != d.gallery[mate]


def test_a_smaller_gallery_is_a_prefix_of_a_larger_one() -> None:
    ids = _identities()
    small = design_half(ids, "report", gallery_size=5, mated_per_id=1, nonmated=10)
    large = design_half(ids, "report", gallery_size=50, mated_per_id=1, nonmated=10)
    assert large.gallery[:5] == small.gallery and large.nonmated == small.nonmated
    assert len(small.mated) == 5


def _size_searches(impostor: float, genuine: float) -> Searches:
    """3-person gallery, 3 mated probes scoring ``genuine``, 100 impostors up to ``impostor``."""
    mated = np.full((3, 3), 0.0)
    mated[np.arange(3), np.arange(3)] = genuine
    nonmated = np.zeros((100, 3))
    nonmated[0, 0] = impostor
    return Searches(mated, np.arange(3), nonmated)


@pytest.mark.parametrize(
    ("per_size", "max_fnir", "min_face", "threshold"),
    [
        # 24 px: impostors reach 0.9 and true faces only 0.5 -> excluded; from 32 up all fine
        ({24: (0.9, 0.5), 32: (0.6, 0.8), 48: (0.5, 0.9)}, 0.2, 32, 0.6),
        # every size works -> the smallest, at the strictest threshold among all sizes
        ({24: (0.6, 0.8), 32: (0.7, 0.85), 48: (0.5, 0.9)}, 0.2, 24, 0.7),
        # nothing meets the FNIR bound -> the largest size, and its rows say how bad
        ({24: (0.9, 0.5), 32: (0.9, 0.5)}, 0.2, 32, 0.9),
    ],
)
def test_choose_video_point(
    per_size: dict[int, tuple[float, float]], max_fnir: float, min_face: int, threshold: float
) -> None:
    tune = {s: _size_searches(*v) for s, v in per_size.items()}
    point = choose_video_point("onnx", tune, tune, target_fpir=0.001, n=3, max_fnir=max_fnir)
    assert point.min_face_px == min_face
    assert point.threshold == pytest.approx(threshold) and point.threshold > threshold
    assert [r.variant for r in point.rows] == [
        f"cctv{s}" for s in sorted(per_size) if s >= min_face
    ]
    assert all(r.fpir == 0.0 for r in point.rows)
    assert VideoPoint.from_dict(point.to_dict()) == point


def test_read_video_point(tmp_path: Path) -> None:
    tune = {32: _size_searches(0.5, 0.9)}
    point = choose_video_point("onnx", tune, tune, target_fpir=0.01, n=3, max_fnir=0.5)
    path = tmp_path / "openset.txt"
    path.write_text("a table\n" + json.dumps({"video_point": point.to_dict()}) + "\n")
    assert read_video_point(path, "onnx") == point
    with pytest.raises(InputError, match="measured with the onnx pack, not dlib"):
        read_video_point(path, "dlib")
    path.write_text(json.dumps({"video_point": None}))
    with pytest.raises(InputError, match="no video operating point"):
        read_video_point(path, "onnx")
    path.write_text(json.dumps({"video_point": {"pack": "onnx"}}))
    with pytest.raises(InputError, match="not a video operating point"):
        read_video_point(path, "onnx")
    with pytest.raises(InputError, match="cannot read"):
        read_video_point(tmp_path / "missing.json", "onnx")


def _four_people() -> Searches:
    """A gallery of 4 people (columns), one mated probe each, two strangers."""
    mated = np.array(
        [
            [0.9, 0.2, 0.95, 0.1],  # person 0: beaten by person 2 in the whole gallery
            [0.3, 0.8, 0.1, 0.1],  # person 1
            [0.1, 0.1, 0.7, 0.2],  # person 2
            [0.2, 0.1, 0.1, -INF],  # person 3: scores nothing against its own template
        ]
    )
    nonmated = np.array([[0.1, 0.6, 0.2, 0.9], [0.5, 0.1, 0.3, 0.2]])
    return Searches(mated, np.array([0, 1, 2, 3]), nonmated)


@pytest.mark.parametrize(
    ("n", "galleries", "mated_top", "mated_right", "nonmated_top"),
    [
        # two galleries {0, 1} and {2, 3}: each mated probe meets only its own gallery, each
        # stranger meets both
        (2, 2, [0.9, 0.8, 0.7, 0.1], [True, True, True, False], [0.6, 0.9, 0.5, 0.3]),
        # four galleries of one: every search is 1:1, so person 0 is found at 0.9
        (
            1,
            4,
            [0.9, 0.8, 0.7, -INF],
            [True, True, True, True],
            [0.1, 0.6, 0.2, 0.9, 0.5, 0.1, 0.3, 0.2],
        ),
        # N = 3 leaves one gallery of people 0-2; person 3's probe has no gallery and is left out
        (3, 1, [0.95, 0.8, 0.7], [False, True, True], [0.6, 0.5]),
    ],
)
def test_rotated_galleries_pool_every_disjoint_gallery(
    n: int,
    galleries: int,
    mated_top: list[float],
    mated_right: list[bool],
    nonmated_top: list[float],
) -> None:
    s = _four_people()
    result = s.at(n, rotate=True)
    assert result.mated_top.tolist() == mated_top
    assert result.mated_right.tolist() == mated_right
    assert result.nonmated_top.tolist() == nonmated_top
    assert s.galleries(n, True) == galleries and s.galleries(n, False) == 1
    nested = s.at(n)  # the first n people only: fewer mated searches
    assert len(nested.mated_top) == n <= len(result.mated_top) + (n == 3)


def test_a_rotated_row_counts_every_search_and_its_galleries() -> None:
    s = _four_people()
    row = operating_row("clean", 2, 0.25, s, s, rotate=True)
    assert (row.mated, row.nonmated, row.galleries) == (4, 4, 2)
    assert row.threshold > 0.6  # one of the 4 stranger searches (0.9) may pass, not two
    assert row.fpir == 0.25
    assert row.fnir == 0.25  # person 3 (wrong rank-1); persons 0-2 clear 0.6
    point = choose_video_point("dlib", {48: s}, {48: s}, target_fpir=0.25, n=2, max_fnir=0.5)
    rotated = choose_video_point(
        "dlib", {48: s}, {48: s}, target_fpir=0.25, n=2, max_fnir=0.5, rotate=True
    )
    assert point.rows[0].galleries == 1 and rotated.rows[0].galleries == 2
    assert (point.rows[0].mated, rotated.rows[0].mated) == (2, 4)
