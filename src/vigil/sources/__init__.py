"""Video sources and the per-camera capture worker.

* :func:`iter_file_frames` / :class:`FileReader`: every frame of a file, in order, capped by
  video time (``vigil analyze``).
* :class:`CameraWorker`: live capture for one camera (decoder thread, drop-oldest buffer,
  analysed-fps cap, reconnection with backoff) and its :class:`CameraStatus` snapshot;
  :class:`FilePlayback` says how fast a file camera plays.
* :func:`test_connection`: open a URL, read one frame, report (the dashboard's button).
* :class:`FileSource` / :class:`StreamSource`: the frame sources (``read() -> PendingFrame |
  None``); :meth:`PendingFrame.frame` converts a frame to BGR when the analysis takes it.
"""

from vigil.sources.buffer import DropOldestBuffer, FpsCap, RateMeter
from vigil.sources.capture import (
    FileSource,
    FrameSource,
    SourceKind,
    SourceSpec,
    StreamSource,
    open_capture,
    open_source,
    redact_url,
    source_kind,
)
from vigil.sources.offline import FileReader, iter_file_frames
from vigil.sources.picture import BgrConverter, PendingFrame
from vigil.sources.probe import ConnectionTest, test_connection
from vigil.sources.worker import (
    AS_FAST_AS_ANALYSIS,
    FLAT_OUT,
    REALTIME,
    CameraState,
    CameraStatus,
    CameraWorker,
    FilePlayback,
    StateChange,
)

__all__ = [
    "AS_FAST_AS_ANALYSIS",
    "FLAT_OUT",
    "REALTIME",
    "BgrConverter",
    "CameraState",
    "CameraStatus",
    "CameraWorker",
    "ConnectionTest",
    "DropOldestBuffer",
    "FilePlayback",
    "FileReader",
    "FileSource",
    "FpsCap",
    "FrameSource",
    "PendingFrame",
    "RateMeter",
    "SourceKind",
    "SourceSpec",
    "StateChange",
    "StreamSource",
    "iter_file_frames",
    "open_capture",
    "open_source",
    "redact_url",
    "source_kind",
    "test_connection",
]
