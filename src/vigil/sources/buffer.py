"""The pieces between a camera's decoder and its analysis: a drop-oldest buffer, the analysed-fps
cap and a moving-average rate meter. All are thread-safe where they are shared and deterministic
given their inputs (the cap and the meter take times as arguments), so tests can count exactly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Frames closer together than this in time are treated as simultaneous by the cap, so that a
# 30 fps stream capped at 5 fps takes exactly every 6th frame despite rounding of timestamps.
CAP_TOLERANCE_SECONDS = 0.001


class DropOldestBuffer(Generic[T]):
    """A bounded FIFO that never blocks the producer: when full, ``put`` drops the oldest item.

    Every drop is counted in ``drops``. ``get`` waits for an item up to a timeout; after
    ``close`` it returns what is left, then None at once.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"DropOldestBuffer: capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.drops = 0
        self.puts = 0

    def put(self, item: T) -> bool:
        """Add an item; returns True if the oldest one had to be dropped to make room."""
        with self._cond:
            dropped = len(self._items) >= self.capacity
            if dropped:
                self._items.popleft()
                self.drops += 1
            self._items.append(item)
            self.puts += 1
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds (None: forever); None if none came."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()  # a producer may wait for room (wait_for_room)
            return item

    def wait_for_room(self, timeout: float | None = None) -> bool:
        """Wait until ``put`` would not drop (or the buffer is closed); True if there is room.

        For producers that may wait (a file played as fast as the analysis takes frames); live
        decoders never call it, so they never block.
        """
        with self._cond:
            return (
                bool(
                    self._cond.wait_for(
                        lambda: len(self._items) < self.capacity or self._closed, timeout
                    )
                )
                and not self._closed
            )

    def close(self) -> None:
        """Wake every waiting ``get``; later gets return the items left, then None at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FpsCap:
    """Admits items at no more than ``max_fps`` by their timestamps (seconds, any clock).

    The first item is admitted; after that an item is admitted once at least ``1/max_fps`` has
    passed since the schedule slot of the last admitted one. The schedule does not drift, and
    after a gap (e.g. a reconnect) it restarts rather than admitting a burst.
    """

    def __init__(self, max_fps: float) -> None:
        if max_fps <= 0:
            raise ValueError(f"FpsCap: max_fps must be positive, got {max_fps}")
        self.interval = 1.0 / max_fps
        self._next: float | None = None
        self.admitted = 0
        self.skipped = 0

    def admit(self, t: float) -> bool:
        if self._next is not None and t < self._next - CAP_TOLERANCE_SECONDS:
            self.skipped += 1
            return False
        if self._next is None or t - self._next >= self.interval:
            self._next = t + self.interval  # first item, or after a gap: restart the schedule
        else:
            self._next += self.interval
        self.admitted += 1
        return True


class RateMeter:
    """Events per second over a sliding window (a moving average); 0 with fewer than 2 events."""

    def __init__(
        self, window_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window_seconds
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        now = self._clock() if t is None else t
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        with self._lock:
            self._trim(self._clock() if now is None else now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        with self._lock:
            self._times.clear()
