"""Managing cameras from the command center: the stored cameras (:class:`CameraService`) together
with the running workers (the camera runtime), each action one method, each change audited.

The runtime is optional: a web process without one can add, edit and test cameras, but starting
one, stopping one or reading a preview raises :class:`~vigil.errors.ServiceUnavailable`.

Every URL goes through the :class:`~vigil.services.camera_policy.SourcePolicy` when it is stored
and again before it is opened (test, start, restart): video files only inside the media folder,
remote sources only rtsp/http(s) on allowed networks. A refusal is an
:class:`~vigil.errors.InputError` (HTTP 400); a refused connection test is audited too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from vigil.config import CameraConfig
from vigil.db.models import Camera
from vigil.errors import InputError, NotFound, ServiceUnavailable
from vigil.services.camera_policy import SourcePolicy
from vigil.services.cameras import CameraInput, CameraService, to_config
from vigil.sources.capture import redact_url
from vigil.sources.probe import ConnectionTest, test_connection

if TYPE_CHECKING:
    from vigil.sources.worker import CameraStatus

# The audit action of a preview served with preview blur off.
UNBLURRED_PREVIEW = "camera.preview_unblurred"


class CameraRuntime(Protocol):
    """What this service needs of the camera supervisor."""

    def statuses(self) -> list[CameraStatus]: ...

    def start_camera(self, camera: CameraConfig) -> object: ...

    def stop_camera(self, name: str) -> None: ...

    def preview_jpeg(self, name: str) -> bytes | None: ...

    @property
    def preview_blur(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class CameraView:
    """A stored camera (URL password masked) with its worker's status, if one runs."""

    id: int
    name: str
    url: str
    max_fps: float
    enabled: bool
    group: str
    status: CameraStatus | None

    @property
    def running(self) -> bool:
        return self.status is not None and self.status.state.value != "stopped"


@dataclass(frozen=True, slots=True)
class CameraChange:
    name: str | None = None
    url: str | None = None
    max_fps: float | None = None
    enabled: bool | None = None
    group: str | None = None


class CameraControl:
    def __init__(
        self,
        cameras: CameraService,
        runtime: CameraRuntime | None,
        open_timeout: float,
        policy: SourcePolicy,
    ) -> None:
        self.cameras = cameras
        self.runtime = runtime
        self.open_timeout = open_timeout
        self.policy = policy

    def list(self) -> list[CameraView]:
        statuses = self._statuses()
        return [_view(c, statuses) for c in self.cameras.list()]

    def get(self, camera_id: int) -> CameraView:
        return _view(self.cameras.get(camera_id), self._statuses())

    def add(self, data: CameraInput, *, actor: str) -> CameraView:
        data = replace(data, url=self.policy.checked_camera(data.name, data.url))
        return _view(self.cameras.add(data, actor=actor), self._statuses())

    def update(self, camera_id: int, change: CameraChange, *, actor: str) -> CameraView:
        """Edit a camera; a running one restarts with the new settings (or stops if disabled).
        A change of group alone leaves the worker running: the group is not the worker's."""
        url = None if change.url is None else self.policy.checked(change.url)
        camera, before = self.cameras.update(
            camera_id,
            actor=actor,
            name=change.name,
            url=url,
            max_fps=change.max_fps,
            enabled=change.enabled,
            group=change.group,
        )
        worker_changed = before.model_copy(update={"group": camera.camera_group}) != to_config(
            camera
        )
        if self.runtime is not None and worker_changed and before.name in self._statuses():
            self.runtime.stop_camera(before.name)
            if camera.enabled:
                self.runtime.start_camera(self._checked_config(camera))
        return _view(camera, self._statuses())

    def remove(self, camera_id: int, *, actor: str) -> None:
        """Remove a camera, stopping its worker first."""
        camera = self.cameras.get(camera_id)
        if self.runtime is not None and camera.name in self._statuses():
            self.runtime.stop_camera(camera.name)
        self.cameras.remove(camera_id, actor=actor)

    def test_url(self, url: str, *, actor: str) -> ConnectionTest:
        """Try a URL before saving it (open, read one frame); audited with the URL masked."""
        try:
            checked = self.policy.checked(url)
        except InputError:
            self.cameras.record_url_test(redact_url(url), ok=False, actor=actor)
            raise
        result = test_connection(checked, self.open_timeout)
        self.cameras.record_url_test(result.url, ok=result.ok, actor=actor)
        return result

    def test(self, camera_id: int, *, actor: str) -> ConnectionTest:
        camera = self.cameras.get(camera_id)
        try:
            url = self.policy.checked_camera(camera.name, camera.url)
        except InputError:
            self.cameras.record(camera, "camera.test", actor=actor, details={"ok": False})
            raise
        result = test_connection(url, self.open_timeout)
        self.cameras.record(camera, "camera.test", actor=actor, details={"ok": result.ok})
        return result

    def start(self, camera_id: int, *, actor: str) -> CameraView:
        camera = self.cameras.get(camera_id)
        self._runtime().start_camera(self._checked_config(camera))
        self.cameras.record(camera, "camera.start", actor=actor)
        return _view(camera, self._statuses())

    def stop(self, camera_id: int, *, actor: str) -> CameraView:
        camera = self.cameras.get(camera_id)
        self._runtime().stop_camera(camera.name)
        self.cameras.record(camera, "camera.stop", actor=actor)
        return _view(camera, self._statuses())

    def restart(self, camera_id: int, *, actor: str) -> CameraView:
        """Stop the camera (when running) and start it again with its stored settings: what a
        maintenance engineer does to a stuck or failing stream. Audited as ``camera.restart``."""
        camera = self.cameras.get(camera_id)
        config = self._checked_config(camera)  # refused before anything stops
        runtime = self._runtime()
        if camera.name in self._statuses():  # running, or ended or failed: its runner goes
            runtime.stop_camera(camera.name)
        runtime.start_camera(config)
        self.cameras.record(camera, "camera.restart", actor=actor)
        return _view(camera, self._statuses())

    def preview(self, camera_id: int, *, actor: str) -> bytes:
        """The latest analysed frame as JPEG, blurred as a whole unless preview blur is off.

        Each unblurred preview served is audited (``camera.preview_unblurred``: who, which
        camera, when). The setting is read before and after the frame is taken, so a preview
        taken while an admin switches blur off is audited too (never one too few).
        """
        camera = self.cameras.get(camera_id)
        runtime = self._runtime()
        blurred_before = runtime.preview_blur
        data = runtime.preview_jpeg(camera.name)
        if data is None:
            raise NotFound(
                f"camera {camera.name!r} has no analysed frame yet", hint="wait a moment and retry"
            )
        if not (blurred_before and runtime.preview_blur):
            self.cameras.record(camera, UNBLURRED_PREVIEW, actor=actor)
        return data

    def _checked_config(self, camera: Camera) -> CameraConfig:
        """The camera's configuration with its URL checked again (names may resolve elsewhere
        now; cameras stored before the policy existed are checked too)."""
        config = to_config(camera)
        url = self.policy.checked_camera(config.name, config.url)
        return config.model_copy(update={"url": url})

    def _statuses(self) -> dict[str, CameraStatus]:
        return {st.camera: st for st in self.runtime.statuses()} if self.runtime else {}

    def _runtime(self) -> CameraRuntime:
        if self.runtime is None:
            raise ServiceUnavailable(
                "the camera runtime is not running in this process",
                hint="start the command center with `vigil serve`",
            )
        return self.runtime


def _view(camera: Camera, statuses: dict[str, CameraStatus]) -> CameraView:
    return CameraView(
        id=camera.id,
        name=camera.name,
        url=redact_url(camera.url),
        max_fps=camera.max_fps,
        enabled=camera.enabled,
        group=camera.camera_group,
        status=statuses.get(camera.name),
    )
