"""The per-camera capture worker: a decoder thread, a drop-oldest buffer and the analysed-fps cap.

The decoder thread reads frames as fast as the source gives them (file cameras are paced to
their own frame rate unless their :class:`FilePlayback` says otherwise), admits no more than
``max_fps`` per second (of video time for files, of decode time for streams; frames passed over
are counted in ``skipped_by_cap``) and puts the admitted ones into a small buffer
(``sources.buffer_frames``) that drops the oldest frame when full (counted in ``drops``); a live
decoder never waits for the analysis. The analysis side calls :meth:`CameraWorker.next_frame`,
which hands out buffered frames in order. Because only admitted frames are buffered, a buffer of
N frames lets the analysis fall up to N / ``max_fps`` seconds behind (a frame with several new
faces to embed) and catch up without losing the frames of that time; behind by more, it loses
the oldest, counted. The buffer holds frames as decoded
(:class:`~vigil.sources.picture.PendingFrame`); a frame is converted to BGR only when handed to
the analysis, so dropped and skipped frames cost no conversion and the decoder thread does
nothing but decode.

Camera states (:class:`CameraState`), as shown in :class:`CameraStatus`:

``connecting``    started; the first open is in progress.
``connected``     the source is open and frames are arriving.
``reconnecting``  the stream was lost (read failed / server gone); waiting to reopen it.
``failed``        the last open failed (``last_error`` says why); the worker keeps retrying with
                  exponential backoff (:class:`vigil.retry.Backoff`: ``reconnect_initial_seconds``
                  doubling up to ``reconnect_max_seconds``; ``next_retry_at`` says when).
``ended``         a file without ``loop`` reached its end; nothing more will come.
``stopped``       :meth:`CameraWorker.stop` was called.

Nothing is retried for ``ended``; files with ``loop=True`` restart at their end instead.

A server that goes away is noticed at once (the connection closes). A stream that stalls with
the connection open is noticed when PyAV's read gives up after ``read_timeout_seconds``
(tests/sources/test_rtsp.py stalls a real RTSP stream and checks the worker reconnects).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from vigil.config import CameraConfig, SourceConfig
from vigil.errors import SourceError
from vigil.retry import Backoff
from vigil.sources.buffer import DropOldestBuffer, FpsCap, RateMeter
from vigil.sources.capture import (
    FrameSource,
    SourceKind,
    SourceSpec,
    open_source,
    redact_url,
    source_kind,
)
from vigil.sources.picture import SourceFrame, ready
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow
from vigil.types import Frame

log = logging.getLogger(__name__)

# Opens the camera's source; ``index_start`` keeps frame indices increasing across reconnects.
Opener = Callable[[int], FrameSource]


class CameraState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One state transition of a camera, kept in :attr:`CameraStatus.history`."""

    state: CameraState
    at: datetime
    error: str | None = None


HISTORY_LENGTH = 20
MIN_PLAYBACK_SPEED = 0.1
MAX_PLAYBACK_SPEED = 100.0


@dataclass(frozen=True, slots=True)
class FilePlayback:
    """How a file camera plays (live streams ignore it). Frame times are always the source's
    start plus the frame's video time, whatever the speed, so tracks, alerts and the fps cap
    (which counts video time for files) see the same timeline at any speed.

    ``speed``              1.0 plays at the file's own frame rate (a stand-in for a live camera);
                           2.0 twice as fast, 0.5 half as fast (bounded 0.1 to 100); None does
                           not pace at all.
    ``wait_for_analysis``  the decoder waits for room in the buffer instead of dropping the oldest
                           frame, so the file plays as fast as the analysis takes frames and no
                           frame is dropped (tests, offline soak runs). Never for live cameras.
    """

    speed: float | None = 1.0
    wait_for_analysis: bool = False

    def __post_init__(self) -> None:
        speed = self.speed
        if speed is not None and (
            not math.isfinite(speed) or not MIN_PLAYBACK_SPEED <= speed <= MAX_PLAYBACK_SPEED
        ):
            raise ValueError(
                f"FilePlayback: speed must be None (unpaced) or between {MIN_PLAYBACK_SPEED:g} "
                f"and {MAX_PLAYBACK_SPEED:g} times real time, got {speed}"
            )


REALTIME = FilePlayback()  # a file camera that behaves like a live one (the default)
AS_FAST_AS_ANALYSIS = FilePlayback(speed=None, wait_for_analysis=True)  # tests: no drops
FLAT_OUT = FilePlayback(speed=None)  # decode as fast as possible, dropping (decode benchmark)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """An immutable snapshot of one camera worker, for the dashboard, API and metrics."""

    camera: str
    url: str  # password masked
    kind: SourceKind
    state: CameraState
    since: datetime  # when the state last changed
    fps_in: float  # decoded frames per second (moving average)
    fps_analysed: float  # frames handed to the analysis per second (moving average)
    frames_in: int
    frames_analysed: int
    drops: int  # frames dropped because the buffer was full
    skipped_by_cap: int  # frames passed over by the max_fps cap
    reconnects: int  # successful reopens after the first connection
    open_failures: int
    last_error: str | None
    last_frame_at: datetime | None
    next_retry_at: datetime | None
    max_fps: float
    history: tuple[StateChange, ...] = ()  # the last state changes, oldest first
    node: str | None = None  # the cluster node running it (Ray engine); None: this process
    analysis_error: str | None = None  # the analysis side's last problem (models, pipeline)


class CameraWorker:
    """Capture for one camera: ``start()``, ``next_frame(timeout)`` until ``done``, ``stop()``.

    ``loop=True`` restarts a file camera at its end; ``playback`` says how fast a file plays
    (:class:`FilePlayback`; default real time, like a live camera). ``opener`` replaces how the
    source is opened (a seam for tests). An unsupported URL scheme raises SourceError here;
    every other problem shows in :meth:`status` and is retried, never raised.
    """

    def __init__(
        self,
        camera: CameraConfig,
        config: SourceConfig | None = None,
        *,
        loop: bool = False,
        playback: FilePlayback = REALTIME,
        opener: Opener | None = None,
    ) -> None:
        self.camera = camera
        self.config = config or SourceConfig()
        self.kind: SourceKind = source_kind(camera.url)
        is_file = self.kind == "file"
        self._speed = playback.speed if is_file else None
        self._wait_for_room = playback.wait_for_analysis and is_file
        spec = SourceSpec(camera.url, camera.name, self.config, loop=loop)
        self._opener: Opener = opener or (lambda start: open_source(spec, index_start=start))
        self._buffer: DropOldestBuffer[SourceFrame] = DropOldestBuffer(self.config.buffer_frames)
        self._cap = FpsCap(camera.max_fps)
        self._cap_lock = threading.Lock()
        self._handed = 0  # frames given to the analysis
        self._meter_in = RateMeter()
        self._meter_out = RateMeter()
        self._loop = BackgroundLoop(f"vigil-decode-{camera.name}", self._run)
        self._lock = threading.Lock()
        self._state = CameraState.CONNECTING
        self._since = utcnow()
        self._history: deque[StateChange] = deque(
            [StateChange(self._state, self._since)], maxlen=HISTORY_LENGTH
        )
        self._frames_in = 0
        self._reconnects = 0
        self._open_failures = 0
        self._ever_connected = False
        self._last_error: str | None = None
        self._last_frame_at: datetime | None = None
        self._next_retry_at: datetime | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> CameraWorker:
        if self._loop.started:
            raise RuntimeError(f"camera {self.camera.name}: worker already started")
        self._loop.start()
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop decoding and wake waiting consumers. Returns True if the thread has ended.

        Never hangs: a thread blocked inside an open or a stalled read (bounded by the open and
        read timeouts) is left to finish on its own; it releases its capture when that returns.
        """
        self._loop.request_stop()
        self._set_state(CameraState.STOPPED)
        self._buffer.close()
        return self._loop.in_loop_thread or self._loop.join(timeout)

    def __enter__(self) -> CameraWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def done(self) -> bool:
        """True once no further frame will come (ended or stopped) and the buffer is empty."""
        return self._buffer.closed and len(self._buffer) == 0

    # ----------------------------------------------------------------- consumer side

    def next_frame(self, timeout: float) -> Frame | None:
        """The next frame to analyse, within the max_fps cap; None if none came within ``timeout``.

        The decoder thread has already applied the cap (only admitted frames are buffered); the
        frame is converted to BGR here (one that cannot be is logged, kept in ``last_error`` and
        passed over).
        """
        deadline = time.monotonic() + timeout
        while True:
            item = self._buffer.get(max(0.0, deadline - time.monotonic()))
            if item is None:
                return None
            frame = self._converted(item)
            if frame is not None:
                self._meter_out.tick()
                with self._cap_lock:
                    self._handed += 1
                return frame

    def _converted(self, item: SourceFrame) -> Frame | None:
        try:
            return ready(item)
        except SourceError as exc:
            with self._lock:
                repeated, self._last_error = self._last_error == str(exc), str(exc)
            if not repeated:  # once, not at every frame of a stream that keeps failing
                log.warning("camera %s: frame %s: %s", self.camera.name, item.index, exc)
            return None

    def frames(self, poll_seconds: float = 0.5) -> Iterator[Frame]:
        """Every frame :meth:`next_frame` gives, until the worker is done."""
        while not self.done:
            frame = self.next_frame(poll_seconds)
            if frame is not None:
                yield frame

    def status(self) -> CameraStatus:
        with self._lock, self._cap_lock:
            return CameraStatus(
                camera=self.camera.name,
                url=redact_url(self.camera.url),
                kind=self.kind,
                state=self._state,
                since=self._since,
                fps_in=round(self._meter_in.rate(), 2),
                fps_analysed=round(self._meter_out.rate(), 2),
                frames_in=self._frames_in,
                frames_analysed=self._handed,
                drops=self._buffer.drops,
                skipped_by_cap=self._cap.skipped,
                reconnects=self._reconnects,
                open_failures=self._open_failures,
                last_error=self._last_error,
                last_frame_at=self._last_frame_at,
                next_retry_at=self._next_retry_at,
                max_fps=self.camera.max_fps,
                history=tuple(self._history),
            )

    # ----------------------------------------------------------------- decoder thread

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        with self._lock:
            if self._state is CameraState.STOPPED:
                return  # stop() is final
            if state is not self._state:
                self._state = state
                self._since = utcnow()
                self._history.append(StateChange(state, self._since, error))
            if error is not None:
                self._last_error = error
            if state not in (CameraState.FAILED, CameraState.RECONNECTING):
                self._next_retry_at = None

    def _run(self) -> None:
        backoff = Backoff(self.config.reconnect_initial_seconds, self.config.reconnect_max_seconds)
        failures = 0  # failed tries since the stream last delivered a frame
        try:
            while not self._loop.stopping:
                source = self._open()
                if source is None:
                    failures += 1
                    self._wait_retry(backoff.delay(failures))
                    continue
                frames_before = self._frames_in
                try:
                    ended = self._pump(source)
                finally:
                    source.close()
                if self._frames_in > frames_before:
                    failures = 0  # it worked for a while: start again from the short delay
                if ended:
                    self._set_state(CameraState.ENDED)
                    return
                if not self._loop.stopping:
                    failures += 1
                    self._set_state(CameraState.RECONNECTING)
                    self._wait_retry(backoff.delay(failures))
        except Exception as exc:  # a bug must not kill the thread silently
            self._set_state(CameraState.FAILED, f"capture stopped by an internal error: {exc!r}")
        finally:
            self._buffer.close()

    def _open(self) -> FrameSource | None:
        try:
            source = self._opener(self._frames_in)
        except SourceError as exc:
            with self._lock:
                self._open_failures += 1
            self._set_state(CameraState.FAILED, str(exc))
            return None
        with self._lock:
            if self._ever_connected:
                self._reconnects += 1
            self._ever_connected = True
        self._meter_in.reset()
        self._set_state(CameraState.CONNECTED)
        return source

    def _wait_retry(self, delay: float) -> None:
        with self._lock:
            self._next_retry_at = utcnow() + timedelta(seconds=delay)
        self._loop.sleep(delay)

    def _pump(self, source: FrameSource) -> bool:
        """Read until the stream ends (True: a file ended) or is lost/stopped (False)."""
        paced_from: float | None = None
        while not self._loop.stopping:
            try:
                frame = source.read()
            except SourceError as exc:  # e.g. a looping file that vanished
                self._set_state(CameraState.RECONNECTING, str(exc))
                return False
            if frame is None:
                if not source.live:
                    return True
                self._set_state(
                    CameraState.RECONNECTING,
                    f"lost the stream from {redact_url(self.camera.url)}: no frame could be read "
                    "(server gone, network down, or the stream stalled).",
                )
                return False
            if self._speed is not None:
                paced_from = self._pace_to(source, paced_from, self._speed)
                # a paced file stands in for a live camera: its frame arrives when it is due,
                # not when it was decoded ahead of that (the latency clocks start here)
                frame = replace(frame, monotonic=time.monotonic())
            if self._loop.stopping:
                return False  # stopped while this frame was being decoded
            if not self._admitted(frame):
                continue  # passed over by the cap: never buffered, so never waited for
            if self._wait_for_room:
                while not self._buffer.wait_for_room(0.5):
                    if self._loop.stopping or self._buffer.closed:
                        return False
            self._buffer.put(frame)
        return False

    def _pace_to(self, source: FrameSource, paced_from: float | None, speed: float) -> float:
        """Wait until the frame's video time / ``speed`` has passed; returns the pacing origin."""
        position = float(getattr(source, "position_seconds", 0.0)) / speed
        now = time.monotonic()
        if paced_from is None:
            return now - position
        delay = paced_from + position - now
        if delay > 0:
            self._loop.sleep(delay)
        return paced_from

    def _admitted(self, frame: SourceFrame) -> bool:
        """Count a decoded frame and ask the fps cap whether it is analysed."""
        self._meter_in.tick()
        with self._lock:
            self._frames_in += 1
            self._last_frame_at = frame.captured_at
        # Files are capped by video time (deterministic); live streams by decode time.
        t = frame.captured_at.timestamp() if self.kind == "file" else frame.monotonic
        with self._cap_lock:
            return self._cap.admit(t)
