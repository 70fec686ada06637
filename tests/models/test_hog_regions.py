"""Detection near the tracks (vigil.models.hog_regions) with a fake detector at the scan seam.

The fake "detector" finds white squares (planted faces) in whatever image it is given and
answers in that image's pixels, as dlib's HOG does for a window of a frame; so the tests see
which windows were scanned and whether the hits come back in frame coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vigil.models.hog_regions import (
    MIN_SIDE,
    ScanRegion,
    ScoredBox,
    detect_near,
    merge_regions,
    regions_around,
)
from vigil.types import BBox

W, H = 640, 360


class SquareFinder:
    """Finds planted squares (value 255 in channel 0) and records the shape of each scan."""

    def __init__(self) -> None:
        self.scanned: list[tuple[int, int]] = []  # (height, width) of each image scanned

    def __call__(self, image: np.ndarray) -> list[ScoredBox]:
        self.scanned.append(image.shape[:2])
        mask = (image[:, :, 0] == 255).astype(np.uint8)
        hits = []
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        for x, y, w, h, _ in stats[1:count]:
            hits.append(ScoredBox(BBox(float(x), float(y), float(x + w), float(y + h)), 1.0))
        return hits


def frame_with(*boxes: BBox) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    for b in boxes:
        image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2), 0] = 255
    return image


def test_a_window_is_the_box_grown_by_half_its_size_on_each_side() -> None:
    (region,) = regions_around([BBox(200, 100, 300, 160)], W, H)
    assert region == ScanRegion(150, 70, 350, 190)


def test_windows_are_clipped_to_the_frame_and_at_least_the_hog_window() -> None:
    (corner,) = regions_around([BBox(600, 330, 640, 360)], W, H)
    assert (corner.x1, corner.y1) == (W, H)  # clipped, then shifted inside to keep MIN_SIDE
    assert corner.x1 - corner.x0 >= MIN_SIDE and corner.y1 - corner.y0 >= MIN_SIDE
    (small,) = regions_around([BBox(300, 150, 310, 160)], W, H)
    assert small.x1 - small.x0 == MIN_SIDE and small.y1 - small.y0 == MIN_SIDE
    assert regions_around([BBox(700, 10, 760, 60)], W, H) == []  # outside the frame: nothing


def test_overlapping_windows_merge_and_distant_ones_do_not() -> None:
    near_pair = [BBox(100, 100, 160, 160), BBox(190, 110, 250, 170)]  # windows overlap
    far = BBox(500, 20, 560, 80)
    regions = regions_around([*near_pair, far], W, H)
    assert len(regions) == 2
    merged = [r for r in regions if r.x0 < 300]
    assert merged == [ScanRegion(70, 70, 280, 200)]
    chain = merge_regions([ScanRegion(0, 0, 10, 10), ScanRegion(20, 0, 30, 10)])
    assert len(chain) == 2  # touching is not overlapping
    assert merge_regions(
        [ScanRegion(0, 0, 10, 10), ScanRegion(20, 0, 30, 10), ScanRegion(5, 0, 25, 10)]
    ) == [ScanRegion(0, 0, 30, 10)]  # merged until none overlap


def test_hits_in_a_window_come_back_in_frame_coordinates() -> None:
    tracked, moved, elsewhere = (
        BBox(200, 100, 260, 160),
        BBox(215, 105, 275, 165),  # the same face, moved since the last frame
        BBox(500, 200, 560, 260),  # a face away from every track
    )
    finder = SquareFinder()
    hits = detect_near(finder, frame_with(moved, elsewhere), [tracked])
    assert [h.box for h in hits] == [moved]
    assert finder.scanned == [(120, 120)]  # one 2x window, not the 640x360 frame


def test_no_boxes_scans_the_whole_frame() -> None:
    faces = (BBox(200, 100, 260, 160), BBox(500, 200, 560, 260))
    finder = SquareFinder()
    hits = detect_near(finder, frame_with(*faces), [])
    assert sorted(h.box.x1 for h in hits) == [200, 500]
    assert finder.scanned == [(H, W)]


def test_windows_covering_most_of_the_frame_give_a_whole_frame_scan() -> None:
    """FULL_SCAN_SHARE: scanning the frame piecewise would cost as much and miss more."""
    big = BBox(100, 60, 540, 300)  # grown by half each side: the whole frame
    finder = SquareFinder()
    detect_near(finder, frame_with(big), [big])
    assert finder.scanned == [(H, W)]


def test_one_hit_per_face_when_two_windows_see_it() -> None:
    def twice(image: np.ndarray) -> list[ScoredBox]:
        return [
            ScoredBox(BBox(10, 10, 70, 70), 0.5),
            ScoredBox(BBox(12, 10, 72, 70), 0.9),
            ScoredBox(BBox(200, 10, 260, 70), 0.4),
        ]

    frame = np.zeros((H, W, 3), np.uint8)
    hits = detect_near(twice, frame, [BBox(100, 100, 160, 160)])
    assert [(h.box.x1, h.score) for h in hits] == [(82.0, 0.9), (270.0, 0.4)]


def test_a_region_is_a_real_window() -> None:
    with pytest.raises(ValueError, match="ScanRegion"):
        ScanRegion(10, 0, 10, 5)
