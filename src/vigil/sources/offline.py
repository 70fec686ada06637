"""Offline reading of a video file for ``vigil analyze FILE``: every frame in order, no drops.

The per-camera analysed-fps cap is honoured by skipping frames by *video* time, so a 30 fps file
with ``max_fps=5`` yields every 6th frame however fast the machine decodes; only the frames
yielded are converted to BGR.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from vigil.config import SourceConfig
from vigil.errors import SourceError
from vigil.sources.buffer import FpsCap
from vigil.sources.capture import FileSource, source_kind
from vigil.sources.picture import SourceFrame
from vigil.types import Frame


def frame_seconds(frame: SourceFrame, start: datetime) -> float:
    """The frame's video time: seconds since ``start``."""
    return (frame.captured_at - start).total_seconds()


class FileReader:
    """Reads a video file frame by frame, applying the fps cap by video time.

    ``decoded`` counts every frame read, ``skipped_by_cap`` those passed over by the cap.
    Opening raises SourceError (missing file, not a video, no decodable frame).
    """

    def __init__(
        self,
        path: str | Path,
        camera: str,
        max_fps: float | None = None,
        *,
        start: datetime | None = None,
        config: SourceConfig | None = None,
    ) -> None:
        if source_kind(str(path)) != "file":
            raise SourceError(
                f"{path} is a stream URL, not a video file.",
                hint="`vigil analyze` takes a video file; add streams as cameras of `vigil serve`.",
            )
        self.path = Path(path)
        self.camera = camera
        self._source = FileSource(str(path), camera, config, start=start)
        self._first = self._source.read()  # fail now, not at the first frame asked for
        if self._first is None:
            self._source.close()
            raise SourceError(
                f"{self.path} holds no frame that could be decoded.",
                hint="Check that the file is a complete, playable video.",
            )
        self._cap = FpsCap(max_fps) if max_fps else None
        self.decoded = 0
        self.skipped_by_cap = 0

    @property
    def fps(self) -> float:
        """The file's nominal frame rate (0 if the container does not say)."""
        return self._source.fps

    @property
    def frame_count(self) -> int:
        """The number of frames the container declares (0 if it does not say)."""
        return self._source.frame_count

    @property
    def start(self) -> datetime:
        return self._source.start

    def frames(self) -> Iterator[Frame]:
        frame, self._first = self._first, None
        try:
            while frame is not None:
                self.decoded += 1
                if self._cap is None or self._cap.admit(frame_seconds(frame, self.start)):
                    yield frame.frame()
                else:
                    self.skipped_by_cap += 1
                frame = self._source.read()
        finally:
            self._source.close()

    def close(self) -> None:
        self._source.close()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()


def iter_file_frames(
    path: str | Path,
    camera: str,
    max_fps: float | None = None,
    *,
    start: datetime | None = None,
    config: SourceConfig | None = None,
) -> Iterator[Frame]:
    """Every frame of ``path`` in order (capped at ``max_fps`` by video time), as Frames.

    ``captured_at`` is ``start`` (default: now) plus the frame's video time. Raises SourceError
    for a missing or unreadable file, with the path and a fix.
    """
    reader = FileReader(path, camera, max_fps, start=start, config=config)
    return reader.frames()
