"""Detection near known faces: scan only windows around the current tracks' boxes.

The windows (:func:`regions_around`) and the duplicate rule (:func:`unique_boxes`) serve the
onnx pack's YuNet too (``YuNetDetector.detect_near``, with wider windows on YuNet's grid); the
rest of this module is dlib's HOG scan.

dlib's HOG detector costs about as much as the pixels it scans (and four times that at
``dlib.upsample: 1``, which doubles each side first). Between two whole-frame scans
(``dlib.full_scan_every``, chosen per camera by :mod:`vigil.pipeline.scanning`) a camera only
needs to follow the faces it already tracks, so :func:`detect_near` scans a window around each
of them instead:

* each box grows by :data:`MARGIN` times its width / height on every side (room for the face to
  move between two analysed frames), is clipped to the image and made at least
  :data:`MIN_SIDE` pixels a side (the HOG window must fit in it);
* overlapping windows are merged into their bounding window, until none overlap;
* each window is scanned by the same detector call as the whole frame (same upsampling, so the
  same smallest face), and its hits are moved back to frame coordinates;
* when the windows cover :data:`FULL_SCAN_SHARE` of the frame or more, the whole frame is
  scanned instead (as cheap, and nothing is missed); with no boxes at all, too.

A face that enters away from every track is not seen here: it is found at the next whole-frame
scan. The scanner is a seam (:data:`Scan`), so that the regions and the coordinate mapping are
tested with a fake detector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vigil.types import BBox

MARGIN = 0.5  # window = box grown by this fraction of its size on each side
MIN_SIDE = 80  # px: dlib's HOG window (80 x 80) must fit in a window at upsample 0
FULL_SCAN_SHARE = 0.8  # windows covering this share of the frame: scan the whole frame
DUPLICATE_IOU = 0.5  # two hits overlapping this much are one face (the higher score is kept)


@dataclass(frozen=True, slots=True)
class ScoredBox:
    """A detector hit: a face box (in the pixels of the image scanned) and its score."""

    box: BBox
    score: float


@dataclass(frozen=True, slots=True)
class ScanRegion:
    """A window of the frame, in whole pixels: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 >= 0 and self.y1 > self.y0 >= 0):
            raise ValueError(f"ScanRegion: expected 0 <= x0 < x1 and 0 <= y0 < y1, got {self}")

    @property
    def area(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def overlaps(self, other: ScanRegion) -> bool:
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def union(self, other: ScanRegion) -> ScanRegion:
        return ScanRegion(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    def to_frame(self, hit: ScoredBox) -> ScoredBox:
        """A hit found in this window, in frame coordinates."""
        b = hit.box
        box = BBox(b.x1 + self.x0, b.y1 + self.y0, b.x2 + self.x0, b.y2 + self.y0)
        return ScoredBox(box, hit.score)


# The detector seam: one image (a whole frame or a window of it, HxWx3) in, hits in its pixels.
Scan = Callable[[np.ndarray], list[ScoredBox]]


def _span(low: float, high: float, limit: int, min_side: int) -> tuple[int, int] | None:
    """Whole-pixel interval covering [low, high] clipped to [0, limit], at least min_side long
    (grown evenly about its centre, then shifted back inside); None if nothing is left."""
    start, end = max(0, math.floor(low)), min(limit, math.ceil(high))
    if end <= start:
        return None
    short = min(min_side, limit) - (end - start)
    if short > 0:
        start -= short // 2
        end += short - short // 2
        shift = max(0, -start) - max(0, end - limit)
        start, end = start + shift, end + shift
    return start, end


def _window(box: BBox, width: int, height: int, margin: float, min_side: int) -> ScanRegion | None:
    dx, dy = margin * box.width, margin * box.height
    xs = _span(box.x1 - dx, box.x2 + dx, width, min_side)
    ys = _span(box.y1 - dy, box.y2 + dy, height, min_side)
    if xs is None or ys is None:
        return None  # the box lies outside the frame
    return ScanRegion(xs[0], ys[0], xs[1], ys[1])


def merge_regions(regions: Sequence[ScanRegion]) -> list[ScanRegion]:
    """Replace overlapping windows by their bounding window until none overlap."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if merged[i].overlaps(merged[j]):
                    merged[i] = merged[i].union(merged.pop(j))
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda r: (r.y0, r.x0))


def regions_around(
    boxes: Sequence[BBox],
    width: int,
    height: int,
    margin: float = MARGIN,
    min_side: int = MIN_SIDE,
) -> list[ScanRegion]:
    """The windows to scan around ``boxes`` in a ``width`` x ``height`` frame (merged)."""
    windows = [_window(b, width, height, margin, min_side) for b in boxes]
    return merge_regions([w for w in windows if w is not None])


def unique_boxes(hits: Sequence[tuple[BBox, float]]) -> list[int]:
    """One hit per face: of two boxes that overlap by DUPLICATE_IOU or more, the higher score;
    the indices of the hits kept, best first."""
    kept: list[int] = []
    for i in sorted(range(len(hits)), key=lambda i: -hits[i][1]):
        if all(hits[i][0].iou(hits[k][0]) < DUPLICATE_IOU for k in kept):
            kept.append(i)
    return kept


def _unique(hits: list[ScoredBox]) -> list[ScoredBox]:
    """One hit per face: of two that overlap by DUPLICATE_IOU or more, the higher score."""
    return [hits[i] for i in unique_boxes([(h.box, h.score) for h in hits])]


def detect_near(
    scan: Scan,
    image: np.ndarray,
    boxes: Sequence[BBox],
    margin: float = MARGIN,
    min_side: int = MIN_SIDE,
) -> list[ScoredBox]:
    """``scan``'s hits in the windows around ``boxes``, in ``image``'s coordinates.

    The whole image is scanned when there are no boxes, or when the windows cover
    :data:`FULL_SCAN_SHARE` of it or more.
    """
    height, width = image.shape[:2]
    regions = regions_around(boxes, width, height, margin, min_side)
    if not regions or sum(r.area for r in regions) >= FULL_SCAN_SHARE * width * height:
        return scan(image)
    hits: list[ScoredBox] = []
    for region in regions:
        window = np.ascontiguousarray(image[region.y0 : region.y1, region.x0 : region.x1])
        hits.extend(region.to_frame(hit) for hit in scan(window))
    return _unique(hits)
