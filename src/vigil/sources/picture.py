"""Decoded frames whose pixels become a BGR array only when the analysis takes them.

A camera decodes every frame of its stream (30 fps for most cameras) but analyses only
``max_fps`` of them (5 by default); the rest are passed over by the fps cap or dropped by the
drop-oldest buffer (:mod:`vigil.sources.worker`). Sources therefore hand out
:class:`PendingFrame` s: the decoded picture (FFmpeg's own YUV frame, kept by reference) with the
frame's camera, index and times, and :meth:`PendingFrame.frame` converts it to the typed,
validated :class:`~vigil.types.Frame` (BGR uint8) once it is admitted. A frame that is dropped or
skipped is never converted.

:class:`BgrConverter` converts with one reused swscale context per camera, single-threaded.
PyAV's ``frame.to_ndarray(format="bgr24")`` builds a new scaler for every frame and, with its
default of automatic threads, starts a pool of slice threads and joins it again when the frame
is freed; cameras already run side by side on their own threads. The pixels are the same
(tests/sources/test_lazy_frames.py compares them frame by frame).

Nothing runs at import time; ``av`` is imported at the first conversion.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from vigil.errors import SourceError
from vigil.types import Frame

SCALER_THREADS = 1  # swscale threads per conversion: parallelism comes from the cameras


class Picture(Protocol):
    """A decoded picture that gives its pixels as a BGR uint8 HxWx3 array on request."""

    def bgr(self) -> np.ndarray: ...


class BgrConverter:
    """Converts decoded PyAV frames to contiguous BGR arrays with one reused scaler.

    Thread-safe (the scaler is used under a lock). ``conversions`` counts the frames converted.
    """

    def __init__(self) -> None:
        self._reformatter: Any = None  # av.video.reformatter.VideoReformatter, made at first use
        self._lock = threading.Lock()
        self.conversions = 0

    def convert(self, frame: Any) -> np.ndarray:
        """``frame`` (an ``av.VideoFrame`` of any pixel format) as a BGR uint8 array."""
        import av
        from av.video.reformatter import VideoReformatter

        try:
            with self._lock:
                if self._reformatter is None:
                    self._reformatter = VideoReformatter()
                bgr = self._reformatter.reformat(frame, format="bgr24", threads=SCALER_THREADS)
                self.conversions += 1
            image = bgr.to_ndarray()
        except (av.error.FFmpegError, ValueError) as exc:
            raise SourceError(
                f"a decoded frame could not be converted to BGR ({exc}).",
                hint="Check that the camera sends a common pixel format (H.264/H.265, MJPEG).",
            ) from exc
        return np.ascontiguousarray(image)


@dataclass(frozen=True, slots=True)
class DecodedPicture:
    """A frame as FFmpeg decoded it (kept by reference), converted by ``converter`` on request."""

    frame: Any  # av.VideoFrame
    converter: BgrConverter

    def bgr(self) -> np.ndarray:
        return self.converter.convert(self.frame)


@dataclass(frozen=True, slots=True)
class PendingFrame:
    """A decoded frame not yet converted: what sources hand out. :meth:`frame` converts it."""

    camera: str
    index: int
    captured_at: datetime  # wall-clock UTC time of the frame (aware)
    monotonic: float  # time.monotonic() when decoded (a paced file's: when it was due)
    picture: Picture

    def __post_init__(self) -> None:
        if self.captured_at.tzinfo is None:
            raise ValueError("PendingFrame.captured_at must be timezone-aware (UTC)")

    def frame(self) -> Frame:
        """The frame with its pixels as BGR (one conversion per call; Frame validates it)."""
        return Frame(self.camera, self.index, self.captured_at, self.monotonic, self.picture.bgr())


# What a frame source may hand out: a frame still to convert, or one already converted.
SourceFrame = Frame | PendingFrame


def ready(item: SourceFrame) -> Frame:
    """``item`` as a :class:`Frame`, converting it if it is still pending."""
    return item.frame() if isinstance(item, PendingFrame) else item
