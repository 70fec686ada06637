"""Fakes for the web tests: the camera runtime seam without cameras."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.config import CameraConfig
from vigil.sources.worker import CameraState, CameraStatus


class FakeSupervisor:
    """The runtime seam: records calls, reports a status per started camera."""

    def __init__(self) -> None:
        self.started: dict[str, CameraConfig] = {}
        self.calls: list[str] = []
        self.preview_blur = True

    def start_camera(self, camera: CameraConfig) -> None:
        self.calls.append(f"start {camera.name} {camera.max_fps}")
        self.started[camera.name] = camera

    def stop_camera(self, name: str) -> None:
        self.calls.append(f"stop {name}")
        self.started.pop(name, None)

    def statuses(self) -> list[CameraStatus]:
        now = datetime.now(UTC)
        return [
            CameraStatus(
                camera=name,
                url=cfg.url,
                kind="rtsp",
                state=CameraState.CONNECTED,
                since=now,
                fps_in=25.0,
                fps_analysed=cfg.max_fps,
                frames_in=1000,
                frames_analysed=200,
                drops=12,
                skipped_by_cap=788,
                reconnects=1,
                open_failures=0,
                last_error=None,
                last_frame_at=now,
                next_retry_at=None,
                max_fps=cfg.max_fps,
            )
            for name, cfg in self.started.items()
        ]

    def preview_jpeg(self, name: str) -> bytes | None:
        return b"\xff\xd8blurred" if self.preview_blur else b"\xff\xd8clear"

    def set_preview_blur(self, enabled: bool) -> None:
        self.preview_blur = enabled
