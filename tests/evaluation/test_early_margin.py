"""The early-alert margin on synthetic open-set scores: the bar, the choice on the tuning half,
and the reporting-half rows (single-shot FPIR against the normal one, mated shares)."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.evaluation.early import choose_margin, early_bar, early_row, measure_early
from vigil.evaluation.openset import Searches


def searches(nonmated: list[float], mated: list[tuple[float, float]]) -> Searches:
    """A gallery of 2: each mated probe's mate is column 0, given as (right score, wrong score);
    each non-mated probe scores ``s`` against column 0 and nothing against column 1."""
    return Searches(
        mated=np.array([[r, w] for r, w in mated], dtype=float).reshape(-1, 2),
        mate=np.zeros(len(mated), dtype=int),
        nonmated=np.array([[s, -1.0] for s in nonmated], dtype=float).reshape(-1, 2),
    )


@pytest.mark.parametrize(
    ("threshold", "margin", "bar"),
    [(0.5, 0.0, 0.5), (0.5, 0.1, 0.55), (0.505, 0.15, 0.579250), (0.92, 0.15, 0.932), (0.4, 1, 1)],
)
def test_the_bar_is_a_fraction_of_the_way_to_a_perfect_match(threshold, margin, bar) -> None:
    assert early_bar(threshold, margin) == pytest.approx(bar)


# 100 strangers: one scores 0.62, one 0.58, the rest 0.1. Threshold 0.5: the bar is 0.5 + m/2.
STRANGERS = [0.62, 0.58] + [0.1] * 98


@pytest.mark.parametrize(
    ("tries", "target", "chosen"),
    [
        (1, 0.01, 0.17),  # one stranger may pass a single try: above 0.58 -> 0.5 + m/2 > 0.58
        (1, 0.02, 0.0),  # two may: the threshold itself qualifies
        (3, 0.01, 0.25),  # 3 tries x 1 % > 1 %: none may pass -> above 0.62
        (3, 0.0, 0.25),
    ],
)
def test_the_smallest_margin_that_keeps_the_tries_within_the_target(tries, target, chosen) -> None:
    tune = {"clean": searches(STRANGERS, [(0.9, 0.2)])}
    got = choose_margin(tune, threshold=0.5, n=2, tries=tries, target_fpir=target)
    assert got == pytest.approx(chosen)


def test_every_variant_must_qualify_and_none_qualifies_when_a_stranger_is_perfect() -> None:
    easy = searches([0.1] * 100, [(0.9, 0.2)])
    hard = searches(STRANGERS, [(0.9, 0.2)])
    both = {"clean": easy, "cctv64": hard}
    assert choose_margin(both, threshold=0.5, n=2, tries=3, target_fpir=0.01) == 0.25
    perfect = {"clean": searches([1.0] + [0.1] * 99, [(0.9, 0.2)])}
    assert choose_margin(perfect, threshold=0.5, n=2, tries=1, target_fpir=0.0) is None


def test_a_row_compares_the_early_and_the_normal_decision_on_the_same_searches() -> None:
    report = searches(
        STRANGERS,
        [(0.9, 0.2), (0.7, 0.1), (0.52, 0.3), (0.3, 0.8), (-np.inf, -np.inf)],
    )
    row = early_row("cctv64", report, threshold=0.5, margin=0.2, n=2, tries=3)
    assert row.bar == pytest.approx(0.6)
    assert (row.fpir_normal, row.fpir_early, row.false_early) == (0.02, 0.01, 1)
    assert row.fpir_early_tries == pytest.approx(0.03)
    assert row.mated_early == pytest.approx(2 / 5)  # 0.9 and 0.7 are right and reach 0.6
    assert row.mated_wrong_early == pytest.approx(1 / 5)  # 0.8 for the wrong person
    assert (row.mated, row.nonmated) == (5, 100)


def test_measure_early_chooses_on_tuning_and_reports_both_margins_on_every_variant() -> None:
    tune = {"clean": searches(STRANGERS, [(0.9, 0.2)]), "cctv24": searches([0.99], [(0.9, 0.2)])}
    report = {"clean": searches([0.1] * 10, [(0.9, 0.2)]), "cctv24": searches([0.1], [(0.5, 0)])}
    early = measure_early(
        tune,
        report,
        threshold=0.5,
        n=2,
        tries=3,
        target_fpir=0.01,
        chosen_on=["clean"],  # cctv24's stranger at 0.99 is below the size gate: not chosen on
        configured_margin=0.15,
    )
    assert early.chosen_margin == 0.25 and early.tune_max_nonmated == 0.62
    assert [(r.variant, r.margin) for r in early.rows] == [
        ("clean", 0.25),
        ("cctv24", 0.25),
        ("clean", 0.15),
        ("cctv24", 0.15),
    ]
