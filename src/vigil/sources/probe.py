"""The dashboard's "test connection": open a source, read one frame, report what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.sources.capture import SourceKind, SourceSpec, open_source, redact_url, source_kind


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """Outcome of :func:`test_connection`. ``message`` is for people: the cause and the fix."""

    ok: bool
    url: str  # password masked
    kind: SourceKind | None
    message: str
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0  # how long the test took


def test_connection(url: str, timeout: float = 10.0, *, allow_files: bool = True) -> ConnectionTest:
    """Open ``url``, read one frame and return the outcome; never raises for a bad source.

    ``timeout`` bounds the open and the read each. ``allow_files=False`` refuses local paths
    (for callers that must not let users probe the server's file system).
    """
    started = time.monotonic()
    safe_url = redact_url(url)
    kind: SourceKind | None = None

    def result(
        ok: bool, message: str, width: int | None = None, height: int | None = None
    ) -> ConnectionTest:
        return ConnectionTest(
            ok, safe_url, kind, message, width, height, round(time.monotonic() - started, 3)
        )

    try:
        kind = source_kind(url)
        if kind == "file" and not allow_files:
            return result(
                False,
                f"{safe_url} is a local file path; only rtsp:// and http(s):// are accepted here",
            )
        seconds = min(max(timeout, 0.5), 120.0)
        config = SourceConfig(open_timeout_seconds=seconds, read_timeout_seconds=seconds)
        source = open_source(SourceSpec(url, "connection-test", config))
    except SourceError as exc:
        return result(False, str(exc))
    try:
        frame = source.read()
    except SourceError as exc:
        return result(False, str(exc))
    finally:
        source.close()
    if frame is None:
        return result(
            False,
            f"{safe_url} opened but sent no frame within {timeout:g} s; "
            "check that the camera is streaming video",
        )
    try:
        height, width = frame.frame().image.shape[:2]
    except SourceError as exc:
        return result(False, str(exc))
    return result(True, f"connected: {width}x{height} {kind} video", width, height)


# Not a pytest test, although its name starts with "test_" (spec'd name for the dashboard).
test_connection.__test__ = False  # type: ignore[attr-defined]
