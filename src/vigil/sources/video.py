"""Decoding with PyAV (FFmpeg's libraries): an opened container's first video stream.

Frames come out as FFmpeg decoded them (:class:`~vigil.sources.picture.DecodedPicture`) and are
converted to BGR only on request (:mod:`vigil.sources.picture`), so that frames the analysis
never takes cost no conversion.

Every option is given to the container it belongs to, never through the process environment:
RTSP runs over TCP (``rtsp_transport=tcp``, interleaved RTP) and the open and read timeouts are
PyAV's per-container ``timeout``. FFmpeg's own log lines are never printed: PyAV keeps FFmpeg's
logging off unless :func:`av.logging.set_level` is called (Vigil never calls it), and failures
come back as exceptions that are turned into one clear :class:`~vigil.errors.SourceError` here.

Nothing runs at import time; ``av`` itself is imported on the first open.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import numpy as np

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.sources.picture import BgrConverter, DecodedPicture

if TYPE_CHECKING:
    from collections.abc import Iterator

VideoKind = Literal["file", "rtsp", "http"]
# FFmpeg "plays" text files as rendered ANSI art, and similar: those are not videos.
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf", "tty"})
RTSP_OPTIONS = {"rtsp_transport": "tcp"}
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
NOT_DECODABLE = "the server answered but sent no video it could decode"


def network_problem(url: str, timeout: float) -> str | None:
    """Why a TCP connection to the URL's host:port fails, or None if it connects.

    Asked only after an open failed, when FFmpeg's own error does not name the cause (an unknown
    host is "Input/output error" there), so that the operator knows what to fix.
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


class VideoInput:
    """An open container's first video stream: :meth:`read_picture` gives decoded pictures
    (:meth:`read` BGR arrays), then None.

    ``position_seconds`` is the video time of the last frame read, counted from the first frame
    (so the first frame is at 0 whatever the container's start time). ``fps`` and
    ``frame_count`` are what the container declares (0 when it does not say). ``converter``
    turns pictures into BGR (give a source's own so that its scaler outlives a reopen).
    """

    def __init__(self, container: Any, stream: Any, converter: BgrConverter | None = None) -> None:
        self.converter = converter or BgrConverter()
        self._container = container
        self._stream = stream
        self._frames: Iterator[Any] = container.decode(stream)
        self._first_time: float | None = None
        self._read = 0
        self.position_seconds = 0.0
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.frame_count = int(stream.frames or 0)
        self.width = int(stream.codec_context.width or 0)
        self.height = int(stream.codec_context.height or 0)

    def read(self) -> np.ndarray | None:
        """The next decoded frame as a BGR uint8 array; None at the end or on a read failure."""
        picture = self.read_picture()
        return None if picture is None else picture.bgr()

    def read_picture(self) -> DecodedPicture | None:
        """The next decoded frame, not converted; None at the end or on a read failure."""
        import av

        try:
            frame = next(self._frames, None)
        except (av.error.FFmpegError, OSError, ValueError):
            return None  # a lost stream, a stalled read past its timeout, a corrupt tail
        if frame is None:
            return None
        if frame.time is not None:
            if self._first_time is None:
                self._first_time = float(frame.time)
            self.position_seconds = float(frame.time) - self._first_time
        elif self._read > 0 and self.fps > 0:  # no timestamp: one nominal frame period later
            self.position_seconds += 1.0 / self.fps
        self._read += 1
        return DecodedPicture(frame, self.converter)

    def close(self) -> None:
        self._container.close()


def open_video(
    url: str,
    kind: VideoKind,
    config: SourceConfig,
    shown: str,
    converter: BgrConverter | None = None,
) -> VideoInput:
    """Open ``url`` (a local path for files) with PyAV; SourceError with the cause and a fix.

    ``shown`` is the name used in messages (the URL with its password masked); ``converter``
    is the :class:`VideoInput`'s (a new one if None).
    """
    import av

    options = dict(RTSP_OPTIONS) if kind == "rtsp" else {}
    timeout = None if kind == "file" else (config.open_timeout_seconds, config.read_timeout_seconds)
    try:
        container = av.open(url, mode="r", options=options, timeout=timeout)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise _open_error(url, kind, config, shown, exc) from None
    streams = list(container.streams.video)
    if not streams or streams[0].codec_context.name in TEXT_CODECS:
        container.close()
        raise _undecodable(kind, shown)
    return VideoInput(container, streams[0], converter)


def _undecodable(kind: VideoKind, shown: str) -> SourceError:
    if kind == "file":
        return SourceError(
            f"cannot read {shown} as video: not a video file, or a codec FFmpeg cannot decode.",
            hint="Convert it with e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.",
        )
    return SourceError(
        f"cannot open {shown}: {NOT_DECODABLE}.", hint=stream_hint(kind, NOT_DECODABLE)
    )


def _open_error(
    url: str, kind: VideoKind, config: SourceConfig, shown: str, exc: BaseException
) -> SourceError:
    if kind == "file":
        return _undecodable(kind, shown)
    if isinstance(exc, ConnectionRefusedError):
        problem = "connection refused"
    else:
        problem = network_problem(url, config.open_timeout_seconds) or NOT_DECODABLE
    return SourceError(f"cannot open {shown}: {problem}.", hint=stream_hint(kind, problem))


def stream_hint(kind: VideoKind, problem: str) -> str:
    if problem == NOT_DECODABLE:
        if kind == "rtsp":
            return (
                "Check the stream path, user name and password, and that the camera "
                "streams H.264/H.265 over TCP."
            )
        return "Check the path and that the URL serves an MJPEG (multipart/x-mixed-replace) stream."
    return "Check that the camera is switched on and reachable, and the host and port in the URL."
