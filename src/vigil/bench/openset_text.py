"""The text of a `vigil bench openset` report: tables an operator (and the README) can read."""

from __future__ import annotations

from vigil.bench.openset import OpensetReport


def _pct(value: float) -> str:
    return "   n/a" if value != value else f"{value * 100:6.2f}%"


def report_lines(report: OpensetReport) -> list[str]:
    """Operating points per variant and N, FPIR growth with N, and the chosen video point."""
    counts = "; ".join(
        f"{half}: {c['gallery']} enrollable, {c['mated']} mated, {c['nonmated']} non-mated probes"
        for half, c in report.halves.items()
    )
    lines = [
        f"open-set LFW, {report.pack} pack: thresholds chosen on the tuning half, figures "
        f"measured on the reporting half ({counts}); {report.embedded} images embedded, "
        f"{report.seconds:.0f} s",
        "variant   N     target FPIR  threshold  FNIR     FPIR     mated  non-mated  misses",
    ]
    for r in report.rows:
        lines.append(
            f"{r.variant:8} {r.n:5d}  {r.target_fpir * 100:9.2f}%  {r.threshold:9.4f}  "
            f"{_pct(r.fnir)}  {_pct(r.fpir)}  {r.mated:5d}  {r.nonmated:9d}  "
            f"{r.mated_misses}+{r.nonmated_misses}"
        )
    lines.extend(small_lines(report))
    lines.append("FPIR grows with N at a fixed threshold (reporting half; clean unless named):")
    for g in report.growth:
        lines.append(
            f"  threshold {g.threshold:.4f} ({g.label}): N={g.n:5d}  FPIR {_pct(g.fpir)}  "
            f"FNIR {_pct(g.fnir)}"
        )
    point = report.video_point
    if point is not None:
        lines.append(
            f"video operating point: threshold {point.threshold:.4f}, minimum face size "
            f"{point.min_face_px} px (chosen on tuning at FPIR {point.target_fpir * 100:.2f}%, "
            f"N={point.n}, FNIR <= {point.max_fnir * 100:.0f}%); reporting half:"
        )
        for r in point.rows:
            lines.append(
                f"  face {r.variant.removeprefix('cctv'):>3} px: FNIR {_pct(r.fnir)}  "
                f"FPIR {_pct(r.fpir)}  ({r.mated_misses} of {r.mated} mated probes not detected)"
            )
    lines.extend(early_lines(report))
    lines.append("misses = probes where the detector found no face: mated+non-mated; a mated miss")
    lines.append("counts as a false negative, a non-mated miss as no alert.")
    return lines


def small_lines(report: OpensetReport) -> list[str]:
    """Smaller watchlists pooled over disjoint galleries, and the minimum face size per N."""
    lines = []
    if report.small:
        lines.append(
            "smaller watchlists, pooled over every disjoint gallery of N people (G = galleries):"
        )
        lines.append(
            "variant   N     G    target FPIR  threshold  FNIR     FPIR     mated  searches"
        )
        for r in report.small:
            lines.append(
                f"{r.variant:8} {r.n:5d} {r.galleries:4d}  {r.target_fpir * 100:9.2f}%  "
                f"{r.threshold:9.4f}  {_pct(r.fnir)}  {_pct(r.fpir)}  {r.mated:5d}  {r.nonmated:8d}"
            )
    for point in report.min_face_by_n:
        first = point.rows[0] if point.rows else None
        lines.append(
            f"minimum face at N={point.n:5d} (FPIR {point.target_fpir * 100:.2f}%, FNIR <= "
            f"{point.max_fnir * 100:.0f}% on tuning): {point.min_face_px} px at threshold "
            f"{point.threshold:.4f}"
            + (
                f"; reporting FNIR {_pct(first.fnir).strip()}, FPIR {_pct(first.fpir).strip()}"
                f" ({first.mated} mated, {first.nonmated} searches, G = {first.galleries})"
                if first
                else ""
            )
        )
    return lines


def early_lines(report: OpensetReport) -> list[str]:
    """The early-alert margin: chosen on tuning, single-shot FPIR against the normal one."""
    early = report.early
    if early is None:
        return []
    chosen = "none on the grid" if early.chosen_margin is None else f"{early.chosen_margin:.2f}"
    lines = [
        f"early alerts at threshold {early.threshold:.4f}, N={early.n}: margin chosen on tuning "
        f"= {chosen} (smallest with {early.tries} tries x single-shot FPIR <= "
        f"{early.target_fpir * 100:.2f}% on {', '.join(early.chosen_on)}; highest tuning "
        f"non-mated score {early.tune_max_nonmated:.4f}); configured "
        f"{early.configured_margin}; reporting half:",
        "  variant  margin  bar     FPIR normal  FPIR early  x tries   false  mated early  "
        "wrong early",
    ]
    for r in early.rows:
        lines.append(
            f"  {r.variant:8} {r.margin:5.2f}  {r.bar:.4f}  {_pct(r.fpir_normal)}     "
            f"{_pct(r.fpir_early)}    {_pct(r.fpir_early_tries)}  {r.false_early:3d}/{r.nonmated}"
            f"  {_pct(r.mated_early)}      {_pct(r.mated_wrong_early)}"
        )
    return lines
