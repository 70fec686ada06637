"""Bystander masking: what leaves memory shows the matched face only.

:class:`FaceCropper` cuts the matched face with a margin and blurs every *other* detected face
that reaches into the crop before the JPEG is encoded, so no bystander's face is ever written.
:func:`blur_all_faces` blurs every face of a frame for live previews.
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


@dataclass(frozen=True, slots=True)
class CropRegion:
    x1: int
    y1: int
    x2: int
    y2: int


def _grown(box: BBox, fraction: float, width: int, height: int) -> CropRegion:
    dx, dy = box.width * fraction, box.height * fraction
    x1 = max(0, int(np.floor(box.x1 - dx)))
    y1 = max(0, int(np.floor(box.y1 - dy)))
    x2 = min(width, int(np.ceil(box.x2 + dx)))
    y2 = min(height, int(np.ceil(box.y2 + dy)))
    return CropRegion(x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))


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
    """A copy of ``image`` with every detected face blurred (live previews)."""
    out = image.copy()
    h, w = out.shape[:2]
    for detection in detections:
        _blur_region(out, _grown(detection.box, MASK_GROW, w, h))
    return out


class FaceCropper:
    """Cuts one face with a margin, others masked; one verb: :meth:`crop`."""

    def __init__(self, margin: float = 0.4, jpeg_quality: int = 90) -> None:
        self.margin = margin
        self.jpeg_quality = jpeg_quality

    def crop(self, image: np.ndarray, face: Detection, others: Sequence[Detection]) -> bytes:
        """JPEG of ``face`` with margin; every other face reaching into the crop is blurred."""
        h, w = image.shape[:2]
        region = _grown(face.box, self.margin, w, h)
        patch = image[region.y1 : region.y2, region.x1 : region.x2].copy()
        for other in others:
            if other is face or other.box == face.box:
                continue
            grown = _grown(other.box, MASK_GROW, w, h)
            local = CropRegion(
                max(0, grown.x1 - region.x1),
                max(0, grown.y1 - region.y1),
                min(patch.shape[1], grown.x2 - region.x1),
                min(patch.shape[0], grown.y2 - region.y1),
            )
            if local.x2 > local.x1 and local.y2 > local.y1:
                _blur_region(patch, local)
        self._restore_matched_face(patch, image, face.box, region)
        return encode_jpeg(patch, self.jpeg_quality)

    @staticmethod
    def _restore_matched_face(
        patch: np.ndarray, image: np.ndarray, box: BBox, region: CropRegion
    ) -> None:
        """A neighbour's grown mask may reach over the matched face: put its tight box back."""
        h, w = image.shape[:2]
        tight = box.clipped(w, h)
        x1, y1 = int(np.floor(tight.x1)), int(np.floor(tight.y1))
        x2, y2 = int(np.ceil(tight.x2)), int(np.ceil(tight.y2))
        patch[y1 - region.y1 : y2 - region.y1, x1 - region.x1 : x2 - region.x1] = image[
            y1:y2, x1:x2
        ]
