"""The one interface the web layer and ``vigil serve`` use to run cameras, whatever the engine.

``runtime.engine: local`` is :class:`~vigil.runtime.supervisor.Supervisor` (camera threads in
this process); ``ray`` is :class:`~vigil.runtime.ray_engine.RaySupervisor` (one Ray actor per
camera on a cluster). :func:`build_engine` picks one from the settings.
"""

from __future__ import annotations

from typing import Protocol

from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.services.alerts import AlertBus
from vigil.sources.worker import CameraStatus


class CameraEngine(Protocol):
    """Start, stop, status and preview of the cameras of a deployment."""

    def start_camera(self, camera: CameraConfig) -> object: ...

    def stop_camera(self, name: str) -> None: ...

    def statuses(self) -> list[CameraStatus]: ...

    def preview_jpeg(self, name: str) -> bytes | None: ...

    @property
    def preview_blur(self) -> bool: ...

    def set_preview_blur(self, enabled: bool) -> None: ...

    def stop_all(self) -> None: ...


def build_engine(context: AppContext, bus: AlertBus, *, loop_files: bool = False) -> CameraEngine:
    """The engine ``runtime.engine`` names (the Ray one connects to ``runtime.address``)."""
    if context.settings.runtime.engine == "ray":
        from vigil.runtime.ray_engine import RaySupervisor

        return RaySupervisor(context, bus, loop_files=loop_files)
    from vigil.runtime.supervisor import Supervisor

    return Supervisor(context, bus, loop_files=loop_files)
