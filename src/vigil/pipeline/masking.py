"""Masking: no face leaves memory recognisable unless it is the matched one, even when the
detector missed it.

Detectors miss faces (small, turned, dark, partly hidden), so no rule here depends on a
bystander being detected:

* **Live previews** (:func:`blur_all_faces`): the *whole* frame is pixelated to
  :data:`PREVIEW_CELLS` cells along its longer side and smoothed, after every detected face was
  masked on its own. A face narrower than 1/8 of the frame (every face a detector is likely to
  miss) keeps at most :data:`MASK_CELLS` cells across, as little as a masked face; a larger one
  is found by any detector and masked first. The scene (people as shapes, light, movement)
  stays visible. An admin may switch preview blur off (an audited setting); each unblurred
  preview served is then audited (``camera.preview_unblurred``: who, which camera, when).
* **Stored alert crops** (:class:`FaceCropper`): only the matched face stays sharp: the
  ellipse inscribed in its box enlarged by :data:`KEEP_GROW` per side. Everything else in the
  crop (the margin, the box's corners) is pixelated to cells a quarter of the matched face's
  width, so a bystander of similar size reaching into the crop keeps at most
  :data:`MASK_CELLS` cells across whether detected or not. Detected bystanders are also
  masked inside that ellipse; the ellipse inscribed in the matched face's own box is always
  shown. What can stay sharp is the sliver of an undetected face that reaches into the
  matched face's ellipse itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.imaging import encode_jpeg
from vigil.types import BBox, Detection

# Other faces' boxes are enlarged by this fraction before blurring (hair, ears, box jitter).
MASK_GROW = 0.4
# A masked face is reduced to this many cells per side, then smoothed: whatever its size, no
# facial detail survives (checked with a real detector in tests/pipeline/test_masking.py).
MASK_CELLS = 4
# The sharp part of a stored crop: the ellipse inscribed in the matched face's box enlarged by
# this fraction per side (the face's own oval with a 15% rim for hair, ears and box jitter).
KEEP_GROW = 0.15
# A blurred preview keeps this many cells along its longer side (20 px cells on a 640 px frame).
PREVIEW_CELLS = 32


@dataclass(frozen=True, slots=True)
class CropRegion:
    x1: int
    y1: int
    x2: int
    y2: int

    def within(self, outer: CropRegion) -> CropRegion | None:
        """This region in ``outer``'s coordinates, clipped to it; None if they do not meet."""
        local = CropRegion(
            max(0, self.x1 - outer.x1),
            max(0, self.y1 - outer.y1),
            min(outer.x2 - outer.x1, self.x2 - outer.x1),
            min(outer.y2 - outer.y1, self.y2 - outer.y1),
        )
        return local if local.x2 > local.x1 and local.y2 > local.y1 else None


def _grown(box: BBox, fraction: float, width: int, height: int) -> CropRegion:
    dx, dy = box.width * fraction, box.height * fraction
    x1 = max(0, int(np.floor(box.x1 - dx)))
    y1 = max(0, int(np.floor(box.y1 - dy)))
    x2 = min(width, int(np.ceil(box.x2 + dx)))
    y2 = min(height, int(np.ceil(box.y2 + dy)))
    return CropRegion(x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))


def pixelate(image: np.ndarray, cell: float) -> np.ndarray:
    """A copy of ``image`` with no detail finer than ``cell`` pixels: averaged into cells of
    that size, smoothed at 4 pixels a cell (no hard cell edges) and scaled back to its shape.
    Smoothing the small image keeps this cheap at any size (a few ms for a 1080p frame)."""
    h, w = image.shape[:2]
    cols, rows = max(1, round(w / cell)), max(1, round(h / cell))
    small = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
    mid = cv2.resize(small, (cols * 4, rows * 4), interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(mid, (5, 5), 0)
    return cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR)


def _blur_region(image: np.ndarray, region: CropRegion) -> None:
    """Replace a region in place by a heavy blur that leaves no identifiable detail."""
    patch = image[region.y1 : region.y2, region.x1 : region.x2]
    if patch.size == 0:
        return
    h, w = patch.shape[:2]
    cells = (min(MASK_CELLS, w), min(MASK_CELLS, h))
    small = cv2.resize(patch, cells, interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(h, w) // 4) | 1)
    image[region.y1 : region.y2, region.x1 : region.x2] = cv2.GaussianBlur(coarse, (k, k), 0)


def blur_all_faces(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """A copy of ``image`` (a live preview) in which no face is recognisable, detected or not:
    every detected face masked, then the whole frame pixelated to :data:`PREVIEW_CELLS`."""
    out = image.copy()
    h, w = out.shape[:2]
    for detection in detections:
        _blur_region(out, _grown(detection.box, MASK_GROW, w, h))
    return pixelate(out, max(h, w) / PREVIEW_CELLS)


def _oval(shape: tuple[int, ...], box: BBox, grow: float, origin: CropRegion) -> np.ndarray:
    """A boolean mask of ``shape``: the ellipse inscribed in ``box`` enlarged by ``grow`` per
    side, in the coordinates of a crop starting at ``origin`` (a face is an oval, its box's
    corners are where neighbours' faces reach in)."""
    mask = np.zeros(shape[:2], np.uint8)
    center = (round((box.x1 + box.x2) / 2) - origin.x1, round((box.y1 + box.y2) / 2) - origin.y1)
    axes = (round(box.width * (0.5 + grow)), round(box.height * (0.5 + grow)))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    return mask.astype(bool)


class FaceCropper:
    """Cuts one face with a margin, everything but that face blurred; one verb: :meth:`crop`."""

    def __init__(self, margin: float = 0.4, jpeg_quality: int = 90) -> None:
        self.margin = margin
        self.jpeg_quality = jpeg_quality

    def crop(self, image: np.ndarray, face: Detection, others: Sequence[Detection]) -> bytes:
        """JPEG of ``face`` with margin: only the oval of the face's box enlarged by
        :data:`KEEP_GROW` is sharp; the rest is pixelated, other detected faces are masked."""
        h, w = image.shape[:2]
        region = _grown(face.box, self.margin, w, h)
        original = image[region.y1 : region.y2, region.x1 : region.x2]
        patch = pixelate(original, max(1.0, face.box.width / MASK_CELLS))
        keep = _oval(patch.shape, face.box, KEEP_GROW, region)
        patch[keep] = original[keep]
        for other in others:
            if other is face or other.box == face.box:
                continue
            local = _grown(other.box, MASK_GROW, w, h).within(region)
            if local is not None:
                _blur_region(patch, local)
        # A neighbour's grown mask may reach over the matched face: put its own oval back.
        tight = _oval(patch.shape, face.box, 0.0, region)
        patch[tight] = original[tight]
        return encode_jpeg(patch, self.jpeg_quality)
