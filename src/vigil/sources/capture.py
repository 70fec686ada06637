"""Opening video sources with OpenCV's FFMPEG backend, and the frame sources built on them.

Three kinds of source are supported, told apart by the URL:

* ``file``: a local video file (a plain path or ``file://``); time is video time.
* ``rtsp``: ``rtsp://`` / ``rtsps://``, always over TCP (interleaved RTP); time is wall clock.
* ``http``: ``http://`` / ``https://`` MJPEG (``multipart/x-mixed-replace``); wall clock.

Every failure to open is a :class:`vigil.errors.SourceError` whose message names the source (with
any password masked) and says how to fix it. Nothing here runs at import time: the FFMPEG
capture options are set inside :func:`open_capture`, just before a stream is opened.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.timeutil import utcnow
from vigil.types import Frame

SourceKind = Literal["file", "rtsp", "http"]
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
RTSP_OVER_TCP = "rtsp_transport;tcp"
TEXT_CODECS = {b"ansi", b"bin\x00", b"xbin", b"idf\x00"}
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


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


def _network_problem(url: str, timeout: float) -> str | None:
    """Why a TCP connection to the URL's host:port fails, or None if it connects.

    OpenCV reports only "not opened"; this pre-check names the usual causes (refused, no answer,
    unknown host) so that the operator knows what to fix.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "the URL has no host name"
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        return "the URL has an invalid port"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except OSError as exc:
        return exc.strerror or str(exc)


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


def _is_text(capture: cv2.VideoCapture) -> bool:
    """FFmpeg "plays" text files as rendered ANSI art; that is not a video."""
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
    return fourcc.to_bytes(4, "little") in TEXT_CODECS


def _timeout_params(config: SourceConfig) -> list[int]:
    params: list[int] = []
    if hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(config.open_timeout_seconds * 1000)]
    if hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(config.read_timeout_seconds * 1000)]
    return params


def open_capture(url: str, config: SourceConfig) -> cv2.VideoCapture:
    """Open ``url`` with the FFMPEG backend (RTSP forced over TCP, open/read timeouts set).

    Raises SourceError with the cause and a fix; the returned capture is open.
    """
    kind = source_kind(url)
    if kind == "file":
        path = file_path(url)
        _check_file(path)
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not capture.isOpened() or _is_text(capture):
            capture.release()
            raise SourceError(
                f"cannot read {path} as video: not a video file, or a codec FFmpeg cannot decode.",
                hint="Convert it with e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.",
            )
        return capture
    if kind == "rtsp":
        _force_rtsp_over_tcp()
    problem = _network_problem(url, config.open_timeout_seconds)
    if problem is None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, _timeout_params(config))
        if capture.isOpened():
            return capture
        capture.release()
        problem = "the server answered but sent no video it could decode"
    raise SourceError(f"cannot open {redact_url(url)}: {problem}.", hint=_hint(kind, problem))


def _force_rtsp_over_tcp() -> None:
    """Make FFmpeg use RTSP over TCP, keeping any other capture options the operator set.

    Done here, not at import: OpenCV reads the variable when a capture opens. The environment is
    only written when the value has to change.
    """
    current = os.environ.get(FFMPEG_OPTIONS_ENV, "")
    kept = [opt for opt in current.split("|") if opt and not opt.startswith("rtsp_transport;")]
    wanted = "|".join([*kept, RTSP_OVER_TCP])
    if current != wanted:
        os.environ[FFMPEG_OPTIONS_ENV] = wanted


def _hint(kind: SourceKind, problem: str) -> str:
    if problem.startswith("the server answered"):
        if kind == "rtsp":
            return (
                "Check the stream path, user name and password, and that the camera "
                "streams H.264/H.265 over TCP."
            )
        return "Check the path and that the URL serves an MJPEG (multipart/x-mixed-replace) stream."
    return "Check that the camera is switched on and reachable, and the host and port in the URL."


def read_image(capture: cv2.VideoCapture) -> np.ndarray | None:
    """One decoded BGR frame, or None at the end of the stream or on a read failure."""
    ok, image = capture.read()
    if not ok or image is None:
        return None
    if image.ndim == 2:  # some MJPEG cameras send grey frames
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


class FrameSource(Protocol):
    """A source of frames for one camera. ``read`` returns None at end/loss of the stream."""

    camera: str
    kind: SourceKind
    live: bool

    def read(self) -> Frame | None: ...

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
        self._capture: cv2.VideoCapture | None = open_capture(self.url, self._config)
        self.start = start or utcnow()
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._index = index_start
        self._offset_ms = 0.0  # video time of the loops already played
        self._last_ms = 0.0
        self.position_seconds = 0.0  # video time of the last frame read (loops included)

    def _frame_ms(self) -> float:
        return 1000.0 / self.fps if self.fps > 0 else 0.0

    def _rewind(self) -> np.ndarray | None:
        assert self._capture is not None
        self._capture.release()
        self._capture = open_capture(self.url, self._config)
        self._offset_ms += self._last_ms + self._frame_ms()
        self._last_ms = 0.0
        return read_image(self._capture)

    def read(self) -> Frame | None:
        if self._capture is None:
            return None
        image = read_image(self._capture)
        if image is None and self.loop and self._index > 0:
            image = self._rewind()
        if image is None:
            return None
        pos_ms = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        self._last_ms = pos_ms
        self.position_seconds = (self._offset_ms + pos_ms) / 1000.0
        captured = self.start + timedelta(seconds=self.position_seconds)
        frame = Frame(self.camera, self._index, captured, time.monotonic(), image)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


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
        self._capture: cv2.VideoCapture | None = open_capture(url, config or SourceConfig())
        self._index = index_start

    def read(self) -> Frame | None:
        if self._capture is None:
            return None
        image = read_image(self._capture)
        if image is None:
            return None
        frame = Frame(self.camera, self._index, utcnow(), time.monotonic(), image)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


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
