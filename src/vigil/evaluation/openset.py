"""Open-set (1:N) identification on LFW: the protocol, the metrics and the video operating point.

Vigil searches every probe against a watchlist of N enrolled people, so the figures that matter
are the open-set ones (ISO/IEC 19795-1, NIST FRVT 1:N), not LFW's 1:1 pairs:

* FPIR(t), false-positive identification rate: the share of *non-mated* searches (the probe's
  person is not enrolled) whose best gallery score reaches t, i.e. that raise an alert.
* FNIR(t), false-negative identification rate: the share of *mated* searches (the person is
  enrolled) where the rank-1 candidate is not the right person or scores below t. A probe in
  which the detector finds no face counts as a false negative (mated) and as no alert
  (non-mated): it is a miss, and the report counts misses separately.
* The threshold for a target FPIR is the lowest t at which at most that share of non-mated
  searches reach t (:func:`threshold_at_fpir`).

Protocol (deterministic, no randomness): LFW identities are split by a hash of the name into a
*tuning* half and a *reporting* half. Thresholds are chosen on the tuning half and the figures
are measured on the reporting half with those thresholds. Within a half, identities are ordered
by the same hash; the first ``nonmated`` one-photo identities (then others, if too few) are never
enrolled and give one non-mated probe each (their first photo). The gallery is the remaining
identities, those with several photos first: each enrolls its first photo, and up to
``mated_per_id`` of its other photos are mated probes. A gallery of size N is the first N of
that order, so the galleries for N = 100, 1,000, ... are nested and one set of embeddings
serves every N.

Small watchlists (``rotate``): a gallery of the first N people holds only N mated probes, too few
to measure FNIR at N = 1 or 10. ``Searches.at(n, rotate=True)`` instead cuts the whole gallery
into ``G // n`` disjoint galleries of n people (consecutive in gallery order) and pools the
searches over all of them: each mated probe searches the gallery holding its person, each
non-mated probe searches every gallery. FNIR then rests on every mated probe, and FPIR is the
mean over the galleries (each stranger meets each gallery once).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vigil.errors import InputError

HALVES = ("tune", "report")


def half_of(name: str) -> str:
    """``"tune"`` or ``"report"``: the half an LFW identity belongs to (a hash of its name)."""
    return HALVES[hashlib.sha256(name.encode("utf-8")).digest()[0] & 1]


def _order(name: str) -> bytes:
    return hashlib.sha256(b"order:" + name.encode("utf-8")).digest()


def lfw_identities(images: Path) -> dict[str, list[str]]:
    """Image keys ``NAME/NAME_0001.jpg`` by identity, sorted, from ``lfw-deepfunneled/``."""
    found: dict[str, list[str]] = {}
    for person in sorted(p for p in images.iterdir() if p.is_dir()):
        keys = sorted(f"{person.name}/{f.name}" for f in person.glob("*.jpg"))
        if keys:
            found[person.name] = keys
    if not found:
        raise InputError(f"no LFW identities under {images}", hint="give --lfw the LFW folder")
    return found


@dataclass(frozen=True, slots=True)
class HalfDesign:
    """Who is enrolled and who probes, for one half of LFW (see the module docstring)."""

    half: str
    gallery: tuple[str, ...]  # enrolled image keys, in gallery order (index = gallery position)
    mated: tuple[str, ...]  # mated probe keys
    mate: tuple[int, ...]  # gallery index of each mated probe's person
    nonmated: tuple[str, ...]  # non-mated probe keys (persons never enrolled)

    def __post_init__(self) -> None:
        if len(self.mated) != len(self.mate):
            raise ValueError(f"HalfDesign: {len(self.mated)} mated probes, {len(self.mate)} mates")

    @property
    def keys(self) -> list[str]:
        """Every image the design needs, once."""
        return sorted(set(self.gallery) | set(self.mated) | set(self.nonmated))


def design_half(
    identities: Mapping[str, Sequence[str]],
    half: str,
    *,
    gallery_size: int,
    mated_per_id: int,
    nonmated: int,
) -> HalfDesign:
    """The design of one half, with a gallery of at most ``gallery_size`` identities."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    if gallery_size < 1 or mated_per_id < 1 or nonmated < 1:
        raise InputError(
            "gallery size, mated probes per identity and non-mated probes must be >= 1"
        )
    names = sorted((n for n in identities if half_of(n) == half), key=_order)
    singles = [n for n in names if len(identities[n]) == 1]
    several = [n for n in names if len(identities[n]) > 1]
    strangers = (singles + several[::-1])[:nonmated]
    kept = set(strangers)
    enrolled = [n for n in several + singles if n not in kept][:gallery_size]
    mated: list[str] = []
    mate: list[int] = []
    for index, name in enumerate(enrolled):
        for key in identities[name][1 : 1 + mated_per_id]:
            mated.append(key)
            mate.append(index)
    return HalfDesign(
        half=half,
        gallery=tuple(identities[n][0] for n in enrolled),
        mated=tuple(mated),
        mate=tuple(mate),
        nonmated=tuple(identities[n][0] for n in strangers),
    )


@dataclass(frozen=True, slots=True)
class Searches:
    """Cosine scores of every probe against the whole gallery of one half, for one variant.

    A row of -inf is a probe in which the detector found no face (a miss).
    """

    mated: np.ndarray  # (mated probes, gallery) float
    mate: np.ndarray  # (mated probes,) int: the right gallery column
    nonmated: np.ndarray  # (non-mated probes, gallery) float

    def __post_init__(self) -> None:
        if self.mated.ndim != 2 or self.nonmated.ndim != 2 or self.mate.ndim != 1:
            raise ValueError("Searches: expected 2-D score matrices and a 1-D mate array")
        if self.mated.shape[0] != self.mate.shape[0]:
            raise ValueError(
                f"Searches: {self.mated.shape[0]} mated rows but {self.mate.shape[0]} mates"
            )
        if self.mated.shape[1] != self.nonmated.shape[1]:
            raise ValueError(
                f"Searches: gallery widths differ ({self.mated.shape[1]} vs "
                f"{self.nonmated.shape[1]})"
            )

    @property
    def gallery_size(self) -> int:
        return int(self.mated.shape[1])

    def at(self, n: int, *, rotate: bool = False) -> RankOne:
        """Rank-1 results against the first ``n`` gallery entries, or with ``rotate`` pooled over
        every disjoint gallery of ``n`` consecutive entries (see the module docstring)."""
        if not 1 <= n <= self.gallery_size:
            raise InputError(f"gallery size {n} outside 1..{self.gallery_size}")
        if rotate:
            return self._rotated(n)
        keep = self.mate < n
        mated = self.mated[keep, :n]
        nonmated = self.nonmated[:, :n]
        return RankOne(
            mated_top=mated.max(axis=1) if len(mated) else np.empty(0),
            mated_right=(mated.argmax(axis=1) == self.mate[keep])
            if len(mated)
            else np.empty(0, bool),
            nonmated_top=nonmated.max(axis=1) if len(nonmated) else np.empty(0),
        )

    def galleries(self, n: int, rotate: bool) -> int:
        """How many disjoint galleries ``at(n, rotate=rotate)`` pools."""
        return self.gallery_size // n if rotate else 1

    def _rotated(self, n: int) -> RankOne:
        blocks = self.gallery_size // n
        width = blocks * n
        block = self.mate // n
        keep = block < blocks
        mated, mate, block = self.mated[keep, :width], self.mate[keep], block[keep]
        # each mated probe against its own block: columns block*n .. block*n + n - 1
        columns = block[:, None] * n + np.arange(n)[None, :]
        own = np.take_along_axis(mated, columns, axis=1) if len(mated) else np.empty((0, n))
        nonmated = self.nonmated[:, :width].reshape(len(self.nonmated), blocks, n).max(axis=2)
        return RankOne(
            mated_top=own.max(axis=1) if len(own) else np.empty(0),
            mated_right=(own.argmax(axis=1) == mate - block * n) if len(own) else np.empty(0, bool),
            nonmated_top=nonmated.reshape(-1),
        )


@dataclass(frozen=True, slots=True)
class RankOne:
    """Best score of each search, and for mated ones whether the best is the right person."""

    mated_top: np.ndarray  # float (m,), -inf for a miss
    mated_right: np.ndarray  # bool (m,)
    nonmated_top: np.ndarray  # float (k,), -inf for a miss

    def __post_init__(self) -> None:
        if self.mated_top.shape != self.mated_right.shape:
            raise ValueError("RankOne: mated scores and right flags differ in shape")

    @property
    def mated_misses(self) -> int:
        return int(np.sum(~np.isfinite(self.mated_top)))

    @property
    def nonmated_misses(self) -> int:
        return int(np.sum(~np.isfinite(self.nonmated_top)))


def threshold_at_fpir(nonmated_top: np.ndarray, fpir: float) -> float:
    """Lowest cosine threshold at which at most ``fpir`` of the non-mated searches reach it.

    Searches reach ``t`` when their best score is ``>= t``. Ties are resolved conservatively
    (the achieved FPIR is at most the target). Never below -1, the lowest cosine.
    """
    if not 0.0 <= fpir < 1.0:
        raise InputError(f"target FPIR must be in [0, 1), got {fpir}", hint="e.g. 0.001")
    if len(nonmated_top) == 0:
        raise InputError("a threshold for a target FPIR needs non-mated searches")
    ordered = np.sort(np.asarray(nonmated_top, dtype=np.float64))[::-1]
    allowed = math.floor(fpir * len(ordered) + 1e-9)
    if allowed >= len(ordered):
        return -1.0
    return max(-1.0, float(np.nextafter(ordered[allowed], np.inf)))


def fpir_at(nonmated_top: np.ndarray, threshold: float) -> float:
    """Share of non-mated searches whose best score reaches ``threshold``."""
    if len(nonmated_top) == 0:
        return float("nan")
    return float(np.mean(np.asarray(nonmated_top) >= threshold))


def fnir_at(result: RankOne, threshold: float) -> float:
    """Share of mated searches whose rank-1 candidate is wrong or below ``threshold``."""
    if len(result.mated_top) == 0:
        return float("nan")
    found = result.mated_right & (result.mated_top >= threshold)
    return float(1.0 - np.mean(found))


@dataclass(frozen=True, slots=True)
class OperatingRow:
    """One row of the report: a variant, a gallery size and a target FPIR.

    ``threshold`` is chosen on the tuning half; ``fnir`` and ``fpir`` are measured on the
    reporting half at that threshold.
    """

    variant: str  # "clean" or "cctv<face size>"
    n: int
    target_fpir: float
    threshold: float
    fnir: float
    fpir: float
    mated: int  # mated searches on the reporting half
    nonmated: int
    mated_misses: int  # detector found no face (counted as false negatives)
    nonmated_misses: int
    galleries: int = 1  # disjoint galleries of n people pooled (Searches.at(rotate=True))


def operating_row(
    variant: str, n: int, target: float, tune: Searches, report: Searches, *, rotate: bool = False
) -> OperatingRow:
    """Choose the threshold for ``target`` on ``tune`` and measure it on ``report``."""
    threshold = threshold_at_fpir(tune.at(n, rotate=rotate).nonmated_top, target)
    measured = report.at(n, rotate=rotate)
    return OperatingRow(
        variant=variant,
        n=n,
        target_fpir=target,
        threshold=threshold,
        fnir=fnir_at(measured, threshold),
        fpir=fpir_at(measured.nonmated_top, threshold),
        mated=len(measured.mated_top),
        nonmated=len(measured.nonmated_top),
        mated_misses=measured.mated_misses,
        nonmated_misses=measured.nonmated_misses,
        galleries=report.galleries(n, rotate),
    )


@dataclass(frozen=True, slots=True)
class GrowthRow:
    """FPIR on the reporting half at one fixed threshold, for one gallery size (the 1:N risk)."""

    threshold: float
    label: str  # where the threshold comes from
    n: int
    fpir: float
    fnir: float


def growth(
    variant_report: Searches, threshold: float, label: str, sizes: Sequence[int]
) -> list[GrowthRow]:
    """How FPIR (and FNIR) move with N at one threshold."""
    rows = []
    for n in sizes:
        result = variant_report.at(n)
        rows.append(
            GrowthRow(
                threshold,
                label,
                n,
                fpir_at(result.nonmated_top, threshold),
                fnir_at(result, threshold),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class VideoPoint:
    """A pack's video threshold and minimum face size, chosen on the CCTV-like tuning half.

    ``rows`` are the reporting-half figures at ``threshold`` for each face size from
    ``min_face_px`` up: the row a deployment can quote.
    """

    pack: str
    threshold: float
    min_face_px: int
    target_fpir: float
    n: int
    max_fnir: float
    rows: tuple[OperatingRow, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> VideoPoint:
        """Read back :meth:`to_dict`, e.g. from a ``vigil bench openset --json`` report."""
        try:
            raw_rows = data["rows"]
            if not isinstance(raw_rows, list | tuple):
                raise TypeError("rows is not a list")
            rows = tuple(OperatingRow(**r) for r in raw_rows)
            return cls(
                pack=str(data["pack"]),
                threshold=float(data["threshold"]),  # type: ignore[arg-type]
                min_face_px=int(data["min_face_px"]),  # type: ignore[call-overload]
                target_fpir=float(data["target_fpir"]),  # type: ignore[arg-type]
                n=int(data["n"]),  # type: ignore[call-overload]
                max_fnir=float(data["max_fnir"]),  # type: ignore[arg-type]
                rows=rows,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"not a video operating point ({exc})",
                hint="give the JSON written by `vigil bench openset --cctv --json`",
            ) from exc


def choose_video_point(
    pack: str,
    tune: Mapping[int, Searches],
    report: Mapping[int, Searches],
    *,
    target_fpir: float,
    n: int,
    max_fnir: float,
    rotate: bool = False,
) -> VideoPoint:
    """The smallest face size, and one threshold, that keep FPIR and FNIR in bounds on tuning.

    For a candidate minimum size s the threshold is the highest of the per-size tuning
    thresholds for ``target_fpir`` over all sizes >= s (so every face that passes the size gate
    stays within the target FPIR on the tuning half). The chosen s is the smallest for which the
    tuning FNIR at that threshold is at most ``max_fnir`` at size s (larger faces do better). If
    no size qualifies, the largest one is chosen and its FNIR says so. ``rotate``: pooled over
    disjoint galleries of ``n`` people (:meth:`Searches.at`), for small ``n``.
    """
    sizes = sorted(tune)
    if not sizes or sorted(report) != sizes:
        raise InputError("choosing a video point needs the same face sizes on both halves")
    per_size = {
        s: threshold_at_fpir(tune[s].at(n, rotate=rotate).nonmated_top, target_fpir) for s in sizes
    }
    chosen = sizes[-1]
    for s in sizes:
        threshold = max(per_size[t] for t in sizes if t >= s)
        if fnir_at(tune[s].at(n, rotate=rotate), threshold) <= max_fnir:
            chosen = s
            break
    threshold = max(per_size[t] for t in sizes if t >= chosen)
    rows = []
    for s in (t for t in sizes if t >= chosen):
        measured = report[s].at(n, rotate=rotate)
        rows.append(
            OperatingRow(
                variant=f"cctv{s}",
                n=n,
                target_fpir=target_fpir,
                threshold=threshold,
                fnir=fnir_at(measured, threshold),
                fpir=fpir_at(measured.nonmated_top, threshold),
                mated=len(measured.mated_top),
                nonmated=len(measured.nonmated_top),
                mated_misses=measured.mated_misses,
                nonmated_misses=measured.nonmated_misses,
                galleries=report[s].galleries(n, rotate),
            )
        )
    return VideoPoint(pack, threshold, chosen, target_fpir, n, max_fnir, tuple(rows))


def _read_report(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8").strip().splitlines()[-1]
        return json.loads(text)
    except (OSError, IndexError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read an open-set report from {path} ({exc})",
            hint="save the output of `vigil bench openset --pack P --cctv --json` to a file",
        ) from exc


def read_early_margin(path: Path) -> float | None:
    """The early-alert margin a ``vigil bench openset --cctv --json`` file chose on tuning (None:
    none on the grid, or the file has no early section)."""
    data = _read_report(path)
    early = data.get("early") if isinstance(data, dict) else None
    chosen = early.get("chosen_margin") if isinstance(early, dict) else None
    return float(chosen) if isinstance(chosen, int | float) else None


def read_video_point(path: Path, pack: str) -> VideoPoint:
    """The video operating point of ``pack`` from a ``vigil bench openset --json`` file."""
    data = _read_report(path)
    raw = data.get("video_point") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise InputError(
            f"{path} has no video operating point",
            hint="run `vigil bench openset` with --cctv so that one is chosen",
        )
    point = VideoPoint.from_dict(raw)
    if point.pack != pack:
        raise InputError(
            f"{path} was measured with the {point.pack} pack, not {pack}",
            hint=f"run `vigil bench openset --pack {pack} --cctv --json`",
        )
    return point
