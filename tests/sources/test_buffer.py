"""Unit tests of the drop-oldest buffer, the fps cap, the rate meter and the backoff."""

from __future__ import annotations

import threading

import pytest

from vigil.sources import DropOldestBuffer, FpsCap, RateMeter


def test_buffer_keeps_order_below_capacity() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(3)
    for i in range(3):
        assert buffer.put(i) is False
    assert [buffer.get(0) for _ in range(3)] == [0, 1, 2]
    assert buffer.drops == 0
    assert buffer.get(0) is None


def test_buffer_drops_oldest_and_counts_every_drop() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(2)
    dropped = [buffer.put(i) for i in range(10)]
    assert dropped == [False, False] + [True] * 8
    assert buffer.drops == 8
    assert buffer.puts == 10
    assert len(buffer) == 2
    assert [buffer.get(0), buffer.get(0)] == [8, 9]  # the newest survive


def test_buffer_put_never_blocks_when_nobody_reads() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(1)
    done = threading.Event()

    def produce() -> None:
        for i in range(10_000):
            buffer.put(i)
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join(30)
    assert done.is_set()
    assert buffer.drops == 9_999
    assert buffer.get(0) == 9_999


def test_close_wakes_a_waiting_get_and_leaves_items_readable() -> None:
    buffer: DropOldestBuffer[str] = DropOldestBuffer(2)
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(buffer.get(None)))
    waiter.start()
    buffer.close()
    waiter.join(30)
    assert got == [None]
    buffer.put("late")  # still accepted; readers get what is left, then None
    assert buffer.get(None) == "late"
    assert buffer.get(None) is None


@pytest.mark.parametrize("capacity", [0, -1])
def test_buffer_rejects_bad_capacity(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        DropOldestBuffer(capacity)


@pytest.mark.parametrize(
    ("source_fps", "max_fps", "frames", "expected_admitted"),
    [
        (30.0, 5.0, 60, list(range(0, 60, 6))),  # every 6th frame
        (29.97, 5.0, 30, [0, 6, 12, 18, 24]),
        (30.0, 30.0, 10, list(range(10))),  # cap at the source rate: nothing skipped
        (30.0, 60.0, 10, list(range(10))),  # cap above the source rate
        (30.0, 10.0, 12, [0, 3, 6, 9]),
        (25.0, 1.0, 76, [0, 25, 50, 75]),
    ],
)
def test_fps_cap_admits_by_time(
    source_fps: float, max_fps: float, frames: int, expected_admitted: list[int]
) -> None:
    cap = FpsCap(max_fps)
    admitted = [i for i in range(frames) if cap.admit(i / source_fps)]
    assert admitted == expected_admitted
    assert cap.admitted == len(expected_admitted)
    assert cap.skipped == frames - len(expected_admitted)


def test_fps_cap_restarts_after_a_gap_instead_of_bursting() -> None:
    cap = FpsCap(5.0)
    assert cap.admit(0.0)
    # A 10 s gap (e.g. a reconnect), then frames at 30 fps: the schedule restarts at 10.0.
    admitted = [t for t in (10.0 + i / 30 for i in range(13)) if cap.admit(t)]
    assert len(admitted) == 3  # 10.0, 10.2, 10.4; no burst to catch up
    assert cap.skipped == 10


@pytest.mark.parametrize("max_fps", [0.0, -5.0])
def test_fps_cap_rejects_bad_rate(max_fps: float) -> None:
    with pytest.raises(ValueError, match="max_fps"):
        FpsCap(max_fps)


def test_rate_meter_is_a_moving_average_over_its_window() -> None:
    meter = RateMeter(window_seconds=2.0, clock=lambda: 0.0)
    assert meter.rate(0.0) == 0.0
    for i in range(21):  # 10 events per second for 2 s
        meter.tick(i / 10)
    assert meter.rate(2.0) == pytest.approx(10.0)
    for i in range(1, 5):  # then 2 per second for 2 s; the old ticks leave the window
        meter.tick(2.0 + i / 2)
    assert meter.rate(4.0) == pytest.approx(2.0)
    assert meter.rate(100.0) == 0.0  # nothing recent


def test_wait_for_room_waits_for_a_get_and_gives_up_when_closed() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(1)
    assert buffer.wait_for_room(0.0)
    buffer.put(1)
    assert not buffer.wait_for_room(0.01)  # full
    freed = threading.Timer(0.05, buffer.get)
    freed.start()
    assert buffer.wait_for_room(10)  # a consumer took the item
    freed.join()
    buffer.close()
    assert not buffer.wait_for_room(10)  # closed: returns at once, no room to use
