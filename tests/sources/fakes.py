"""A fake frame source for unit tests of the capture worker (the seam is the worker's opener)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np

from vigil.errors import SourceError
from vigil.sources import SourceKind
from vigil.types import Frame

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE = np.zeros((4, 6, 3), dtype=np.uint8)


class FakeSource:
    """``count`` frames ``1/fps`` apart in (synthetic) time, then end (file) or loss (live).

    With ``hold`` set, a live source waits for that event before reporting the loss, so a test
    can look at a connected worker; ``block`` makes ``read`` wait before every frame.
    """

    kind: SourceKind = "rtsp"

    def __init__(
        self,
        count: int,
        *,
        fps: float = 30.0,
        live: bool = False,
        index_start: int = 0,
        hold: threading.Event | None = None,
        block: threading.Event | None = None,
    ) -> None:
        self.camera = "fake"
        self.count = count
        self.fps = fps
        self.live = live
        self.kind = "rtsp" if live else "file"
        self.index_start = index_start
        self.hold = hold
        self.block = block
        self.read_count = 0
        self.closed = False
        self.position_seconds = 0.0  # video time of the last frame read, as FileSource has

    def read(self) -> Frame | None:
        if self.block is not None:
            self.block.wait()
        if self.read_count >= self.count:
            if self.hold is not None:
                self.hold.wait()
            return None
        i = self.read_count
        self.read_count += 1
        t = i / self.fps
        self.position_seconds = t
        return Frame(self.camera, self.index_start + i, T0 + timedelta(seconds=t), t, IMAGE)

    def close(self) -> None:
        self.closed = True


class ScriptedOpener:
    """An opener that plays a script: each step is a SourceError to raise or a source to return.

    ``gates[i]`` (optional) is waited for before step ``i`` runs, so a test can hold the worker
    inside an open. ``calls`` counts the opens; ``index_starts`` records what the worker asked.
    """

    def __init__(
        self, steps: list[SourceError | FakeSource], gates: dict[int, threading.Event] | None = None
    ):
        self.steps = steps
        self.gates = gates or {}
        self.calls = 0
        self.index_starts: list[int] = []

    def __call__(self, index_start: int) -> FakeSource:
        step_no = min(self.calls, len(self.steps) - 1)
        self.calls += 1
        self.index_starts.append(index_start)
        gate = self.gates.get(step_no)
        if gate is not None:
            gate.wait()
        step = self.steps[step_no]
        if isinstance(step, SourceError):
            raise step
        step.index_start = index_start
        return step
