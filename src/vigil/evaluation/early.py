"""The early-alert margin (per pack: ``dlib.early_margin``, ``onnx.early_margin``) measured on
open-set LFW probes.

An early alert is raised from ONE gated shot that scores at least the *early bar*
``threshold + margin x (1 - threshold)``; a track gets up to ``tries`` (``tracking.best_shots``)
such early tries. The normal decision matches the track's best shots at ``threshold``. Each
open-set probe (:mod:`vigil.evaluation.openset`) is one chip, so on the same searches:

* the *normal* non-mated FPIR is the share of non-mated searches reaching ``threshold``;
* the *early* single-shot FPIR is the share reaching the bar; a track's early risk is at most
  ``tries`` times that (union bound over its tries), which is what the margin is chosen on;
* the mated share that alerts early is the share of mated searches whose rank-1 candidate is
  the right person and reaches the bar; the share whose rank-1 is a *wrong* enrolled person
  and reaches the bar is reported too (that would be a false alert as well).

The margin is chosen on the tuning half and the figures are measured on the reporting half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vigil.evaluation.openset import Searches, fpir_at

MARGINS = tuple(round(step * 0.01, 2) for step in range(101))  # the grid the margin comes from


def early_bar(threshold: float, margin: float) -> float:
    """The score one shot needs to raise an alert at once."""
    return threshold + margin * (1.0 - threshold)


@dataclass(frozen=True, slots=True)
class EarlyRow:
    """One variant at one margin, measured on the reporting half."""

    variant: str
    margin: float
    bar: float
    fpir_normal: float  # non-mated searches reaching the threshold
    fpir_early: float  # non-mated searches reaching the bar (one shot)
    fpir_early_tries: float  # bound over a track's early tries: min(1, tries x fpir_early)
    false_early: int  # non-mated searches reaching the bar
    nonmated: int
    mated_early: float  # mated searches whose rank-1 is right and reaches the bar
    mated_wrong_early: float  # mated searches whose rank-1 is someone else and reaches the bar
    mated: int


@dataclass(frozen=True, slots=True)
class EarlyReport:
    """The margin chosen on tuning, and reporting-half rows for it and the configured one."""

    threshold: float
    n: int
    tries: int
    target_fpir: float
    chosen_on: tuple[str, ...]  # variants the chosen margin had to satisfy
    chosen_margin: float | None  # None: no margin on the grid qualifies
    configured_margin: float | None
    tune_max_nonmated: float  # highest tuning non-mated score over ``chosen_on``
    rows: tuple[EarlyRow, ...]


def choose_margin(
    tune: Mapping[str, Searches],
    *,
    threshold: float,
    n: int,
    tries: int,
    target_fpir: float,
    margins: Sequence[float] = MARGINS,
) -> float | None:
    """The smallest margin whose early risk (``tries`` x single-shot FPIR) on every tuning
    variant at gallery size ``n`` is at most ``target_fpir``."""
    tops = [tune[v].at(n).nonmated_top for v in tune]
    for margin in sorted(margins):
        bar = early_bar(threshold, margin)
        if all(tries * fpir_at(top, bar) <= target_fpir + 1e-12 for top in tops):
            return margin
    return None


def early_row(
    variant: str, report: Searches, *, threshold: float, margin: float, n: int, tries: int
) -> EarlyRow:
    """The reporting-half figures of one variant at one margin."""
    measured = report.at(n)
    bar = early_bar(threshold, margin)
    fpir = fpir_at(measured.nonmated_top, bar)
    reach = measured.mated_top >= bar
    mated = len(measured.mated_top)
    return EarlyRow(
        variant=variant,
        margin=margin,
        bar=bar,
        fpir_normal=fpir_at(measured.nonmated_top, threshold),
        fpir_early=fpir,
        fpir_early_tries=min(1.0, tries * fpir),
        false_early=int(np.sum(measured.nonmated_top >= bar)),
        nonmated=len(measured.nonmated_top),
        mated_early=float(np.mean(reach & measured.mated_right)) if mated else float("nan"),
        mated_wrong_early=float(np.mean(reach & ~measured.mated_right)) if mated else float("nan"),
        mated=mated,
    )


def measure_early(
    tune: Mapping[str, Searches],
    report: Mapping[str, Searches],
    *,
    threshold: float,
    n: int,
    tries: int,
    target_fpir: float,
    chosen_on: Sequence[str],
    configured_margin: float | None,
) -> EarlyReport:
    """Choose the margin on ``tune`` (variants ``chosen_on``), report every variant of
    ``report`` at the chosen and the configured margin."""
    basis = {v: tune[v] for v in chosen_on}
    chosen = choose_margin(basis, threshold=threshold, n=n, tries=tries, target_fpir=target_fpir)
    margins = list(dict.fromkeys(m for m in (chosen, configured_margin) if m is not None))
    rows = tuple(
        early_row(v, report[v], threshold=threshold, margin=m, n=n, tries=tries)
        for m in margins
        for v in report
    )
    top = max(float(np.max(basis[v].at(n).nonmated_top, initial=-1.0)) for v in basis)
    return EarlyReport(
        threshold=threshold,
        n=n,
        tries=tries,
        target_fpir=target_fpir,
        chosen_on=tuple(chosen_on),
        chosen_margin=chosen,
        configured_margin=configured_margin,
        tune_max_nonmated=top,
        rows=rows,
    )
