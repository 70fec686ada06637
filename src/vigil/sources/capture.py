"""Opening video sources, and the frame sources built on them.

Three kinds of source are supported, told apart by the URL:

* ``file``: a local video file (a plain path or ``file://``); time is video time.
* ``rtsp``: ``rtsp://`` / ``rtsps://``, always over TCP (interleaved RTP); time is wall clock.
* ``http``: ``http://`` / ``https://`` MJPEG (``multipart/x-mixed-replace``); wall clock.

All three are decoded with PyAV (:mod:`vigil.sources.video`): RTSP over TCP and the timeouts are
options of each container, never of the process environment, and FFmpeg prints nothing.
Sources hand out :class:`~vigil.sources.picture.PendingFrame` s: a frame becomes BGR only when
:meth:`~vigil.sources.picture.PendingFrame.frame` is called (by the analysis, for the frames it
takes), with one scaler per source kept across reopens.

Every failure to open is a :class:`vigil.errors.SourceError` whose message names the source (with
any password masked) and says how to fix it. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.sources.picture import BgrConverter, DecodedPicture, PendingFrame, SourceFrame
from vigil.sources.video import VideoInput, open_video
from vigil.timeutil import utcnow

SourceKind = Literal["file", "rtsp", "http"]


def source_kind(url: str) -> SourceKind:
    """Tell the kind of source from its URL; an unsupported scheme is a SourceError."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("", "file"):
        return "file"
    raise SourceError(
        f"unsupported video source {redact_url(url)!r}: scheme '{scheme}://' is not handled.",
        hint="Use a file path, rtsp://host:port/path or an http(s):// MJPEG URL.",
    )


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs, status and audit)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def file_path(url: str) -> Path:
    """The local path of a ``file`` source (``file://`` prefix removed)."""
    return Path(urlsplit(url).path) if url.startswith("file://") else Path(url)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SourceError(
            f"video file not found: {path}.",
            hint="Check the path (relative paths start in the folder Vigil runs in).",
        )
    if not path.is_file():
        raise SourceError(
            f"{path} is a folder, not a video file.", hint="Give the path of a video file."
        )
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {path}: permission denied.", hint="Make the file readable.")


def open_capture(
    url: str, config: SourceConfig, converter: BgrConverter | None = None
) -> VideoInput:
    """Open ``url`` (RTSP forced over TCP, open/read timeouts set on the container).

    Raises SourceError with the cause and a fix; the returned input is open and converts its
    pictures with ``converter`` (a new one if None).
    """
    kind = source_kind(url)
    if kind == "file":
        path = file_path(url)
        _check_file(path)
        return open_video(str(path), kind, config, str(path), converter)
    return open_video(url, kind, config, redact_url(url), converter)


class FrameSource(Protocol):
    """A source of frames for one camera. ``read`` returns None at end/loss of the stream.

    Frames may come still to be converted (:class:`PendingFrame`, the real sources) or as
    :class:`~vigil.types.Frame` s (e.g. test fakes); :func:`vigil.sources.picture.ready` takes both.
    """

    camera: str
    kind: SourceKind
    live: bool

    def read(self) -> SourceFrame | None: ...

    def close(self) -> None: ...


class FileSource:
    """Frames of a video file; ``captured_at`` is ``start`` plus the frame's video time.

    With ``loop=True`` the file restarts at its end and video time keeps increasing, so that a
    clip can stand in for a live camera in demos and benchmarks.
    """

    kind: SourceKind = "file"
    live = False

    def __init__(
        self,
        url: str | Path,
        camera: str,
        config: SourceConfig | None = None,
        *,
        loop: bool = False,
        start: datetime | None = None,
        index_start: int = 0,
    ) -> None:
        self.url = str(url)
        self.camera = camera
        self.loop = loop
        self._config = config or SourceConfig()
        self.converter = BgrConverter()  # one scaler for every pass of a looping file
        self._input: VideoInput | None = open_capture(self.url, self._config, self.converter)
        self.start = start or utcnow()
        self.fps = self._input.fps
        self.frame_count = self._input.frame_count  # 0 when the container does not say
        self._index = index_start
        self._offset = 0.0  # video time of the loops already played, seconds
        self._last = 0.0  # video time of the last frame read in this pass
        self.position_seconds = 0.0  # video time of the last frame read (loops included)

    def _frame_seconds(self) -> float:
        return 1.0 / self.fps if self.fps > 0 else 0.0

    def _rewind(self) -> DecodedPicture | None:
        assert self._input is not None
        self._input.close()
        self._input = open_capture(self.url, self._config, self.converter)
        self._offset += self._last + self._frame_seconds()
        self._last = 0.0
        return self._input.read_picture()

    def read(self) -> PendingFrame | None:
        """The next frame (converted to BGR by its :meth:`PendingFrame.frame`); None at the end."""
        if self._input is None:
            return None
        picture = self._input.read_picture()
        if picture is None and self.loop and self._index > 0:
            picture = self._rewind()
        if picture is None:
            return None
        self._last = self._input.position_seconds
        self.position_seconds = self._offset + self._last
        captured = self.start + timedelta(seconds=self.position_seconds)
        frame = PendingFrame(self.camera, self._index, captured, time.monotonic(), picture)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


class StreamSource:
    """Frames of a live RTSP or HTTP MJPEG stream, stamped with wall-clock UTC time."""

    live = True

    def __init__(
        self, url: str, camera: str, config: SourceConfig | None = None, *, index_start: int = 0
    ) -> None:
        self.url = url
        self.camera = camera
        self.kind: SourceKind = source_kind(url)
        if self.kind == "file":
            raise SourceError(f"{url!r} is a file, not a stream.", hint="Use FileSource for files.")
        self.converter = BgrConverter()
        self._input: VideoInput | None = open_capture(url, config or SourceConfig(), self.converter)
        self._index = index_start

    def read(self) -> PendingFrame | None:
        """The next frame (converted to BGR by its :meth:`PendingFrame.frame`); None if lost."""
        if self._input is None:
            return None
        picture = self._input.read_picture()
        if picture is None:
            return None
        frame = PendingFrame(self.camera, self._index, utcnow(), time.monotonic(), picture)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What a worker needs to (re)open one camera's source."""

    url: str
    camera: str
    config: SourceConfig
    loop: bool = False


def open_source(spec: SourceSpec, *, index_start: int = 0) -> FileSource | StreamSource:
    """Open the right source for the URL. Raises SourceError with the cause and a fix."""
    if source_kind(spec.url) == "file":
        return FileSource(
            spec.url, spec.camera, spec.config, loop=spec.loop, index_start=index_start
        )
    return StreamSource(spec.url, spec.camera, spec.config, index_start=index_start)
