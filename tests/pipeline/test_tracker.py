"""Tracker: IoU association, new tracks, ending after the gap, ids in memory only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vigil.config import TrackingConfig
from vigil.pipeline.tracker import Tracker
from vigil.types import BBox, Detection, Frame

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE = np.zeros((200, 400, 3), np.uint8)


def frame(seconds: float, index: int = 0) -> Frame:
    return Frame("cam1", index, T0 + timedelta(seconds=seconds), seconds, IMAGE)


def det(x: float, y: float = 50.0, size: float = 40.0) -> Detection:
    return Detection(BBox(x, y, x + size, y + size), np.zeros((5, 2), np.float32), 0.9)


def test_same_face_moving_slowly_keeps_its_track() -> None:
    tracker = Tracker(TrackingConfig(), "cam1")
    first = tracker.update(frame(0.0), [det(10)])
    second = tracker.update(frame(0.2), [det(14)])
    assert first[0] is second[0]
    assert second[0].frames_seen == 2
    assert second[0].last_seen == T0 + timedelta(seconds=0.2)
    assert second[0].first_seen == T0


def test_tracks_returned_in_detection_order_and_two_faces_stay_apart() -> None:
    tracker = Tracker(TrackingConfig(), "cam1")
    a, b = tracker.update(frame(0.0), [det(10), det(200)])
    b2, a2 = tracker.update(frame(0.2), [det(203), det(12)])
    assert (a2, b2) == (a, b)
    assert a.track_id != b.track_id


def test_a_face_far_away_starts_a_new_track() -> None:
    tracker = Tracker(TrackingConfig(), "cam1")
    (a,) = tracker.update(frame(0.0), [det(10)])
    (b,) = tracker.update(frame(0.2), [det(300)])
    assert a is not b
    assert len(tracker.live) == 2


def test_one_detection_cannot_continue_two_tracks() -> None:
    tracker = Tracker(TrackingConfig(iou_threshold=0.1), "cam1")
    a, b = tracker.update(frame(0.0), [det(10), det(30)])
    (c,) = tracker.update(frame(0.2), [det(20)])
    assert c in (a, b)
    assert len({t.track_id for t in tracker.live}) == 2


@pytest.mark.parametrize(
    ("gap", "ended"),
    [(0.5, False), (1.0, False), (1.01, True), (5.0, True)],
)
def test_track_ends_after_max_gap_unseen(gap: float, ended: bool) -> None:
    tracker = Tracker(TrackingConfig(max_gap_seconds=1.0), "cam1")
    (a,) = tracker.update(frame(0.0), [det(10)])
    tracker.update(frame(gap), [])
    gone = tracker.pop_ended()
    assert (a in gone) is ended
    assert (a in tracker.live) is not ended


def test_ended_track_is_given_once_and_a_returning_face_gets_a_new_track() -> None:
    tracker = Tracker(TrackingConfig(max_gap_seconds=1.0), "cam1")
    (a,) = tracker.update(frame(0.0), [det(10)])
    (b,) = tracker.update(frame(3.0), [det(10)])
    assert tracker.pop_ended() == [a]
    assert tracker.pop_ended() == []
    assert b is not a and b.track_id > a.track_id


def test_close_ends_every_track() -> None:
    tracker = Tracker(TrackingConfig(), "cam1")
    tracks = tracker.update(frame(0.0), [det(10), det(200)])
    assert sorted(t.track_id for t in tracker.close()) == sorted(t.track_id for t in tracks)
    assert tracker.live == []


@pytest.mark.parametrize(
    ("moved", "same"), [(20.0, True), (23.0, True), (30.0, False), (200.0, False)]
)
def test_a_face_that_moved_without_overlap_enough_continues_when_near(
    moved: float, same: bool
) -> None:
    tracker = Tracker(TrackingConfig(iou_threshold=0.5), "cam1")
    (a,) = tracker.update(frame(0.0), [det(10)])
    (b,) = tracker.update(frame(0.2), [det(10 + moved)])
    assert (a is b) is same


def test_a_much_bigger_face_nearby_is_someone_else() -> None:
    tracker = Tracker(TrackingConfig(iou_threshold=0.9), "cam1")
    (a,) = tracker.update(frame(0.0), [det(10, size=40)])
    (b,) = tracker.update(frame(0.2), [det(5, size=100)])
    assert a is not b
