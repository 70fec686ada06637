"""Root fixtures for an application context and a running camera (a plugin of tests/conftest.py).

- ``context``: an :class:`AppContext` on the test's ``settings`` (a fresh home, dlib pack);
  ``onnx_context``: the same on ``onnx_settings``.
- ``make_context(...)``: a factory for tests that need special settings or a second context on the
  same home (key loading, a restart). ``make_context()`` is a context on a new ``settings``;
  ``make_context(settings)`` one on given settings; ``make_context(env={...}, **sections)`` one on
  ``load_settings({"VIGIL_HOME": <the test's home>, **env}, **sections)``.
- ``lin_context`` (from tests/enrolled_context.py): ``onnx_context`` with Lin-Manuel Miranda
  enrolled under an active authorization.
- ``make_camera(context, clip, ...)``: a :class:`CameraRunner` on a file clip, started unless
  ``start=False``; ``running_camera``: the Hamilton clip looping on ``lin_context``.

Every context is closed, and every camera stopped, after the test; cameras stop first, because
their factory depends on ``make_context``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from enrolled_context import lin_context
from vigil.config import Settings, load_settings
from vigil.context import AppContext, build_context

if TYPE_CHECKING:
    from vigil.models.base import ModelPack
    from vigil.runtime.runner import CameraRunner
    from vigil.services.alerts import AlertEvent

__all__ = ["RunningCamera", "lin_context"]

CAMERA = "stage"
CAMERA_FPS = 5.0


class ContextFactory(Protocol):
    def __call__(
        self,
        settings: Settings | None = None,
        /,
        *,
        env: Mapping[str, str] | None = None,
        **sections: Any,
    ) -> AppContext: ...


@pytest.fixture()
def make_context(vigil_home: Path) -> Iterator[ContextFactory]:
    """Build contexts that are all closed after the test (see the module docstring)."""
    built: list[AppContext] = []

    def make(
        settings: Settings | None = None,
        /,
        *,
        env: Mapping[str, str] | None = None,
        **sections: Any,
    ) -> AppContext:
        if settings is not None and (env or sections):
            raise TypeError("make_context takes either settings or env/sections, not both")
        if settings is None:
            settings = load_settings({"VIGIL_HOME": str(vigil_home), **(env or {})}, **sections)
        context = build_context(settings)
        built.append(context)
        return context

    yield make
    for context in reversed(built):
        context.close()


@pytest.fixture()
def context(make_context: ContextFactory, settings: Settings) -> AppContext:
    """A context on ``settings``: a migrated database and a data key in a fresh home."""
    return make_context(settings)


@pytest.fixture()
def onnx_context(make_context: ContextFactory, onnx_settings: Settings) -> AppContext:
    """A context on ``onnx_settings`` (the ONNX pack from the shared folder)."""
    return make_context(onnx_settings)


@dataclass
class RunningCamera:
    """A camera runner and every alert event its bus published, in order."""

    runner: CameraRunner
    events: list[AlertEvent] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class CameraFactory(Protocol):
    def __call__(
        self,
        context: AppContext,
        clip: Path,
        *,
        loop: bool = False,
        refresh: float = 15.0,
        start: bool = True,
        pack: ModelPack | None = None,
        worker_options: Mapping[str, Any] | None = None,
    ) -> RunningCamera: ...


def _camera(
    context: AppContext,
    clip: Path,
    *,
    loop: bool,
    refresh: float,
    pack: ModelPack | None,
    worker_options: Mapping[str, Any],
) -> RunningCamera:
    from vigil.config import CameraConfig
    from vigil.pipeline.gallery import ActiveGallery
    from vigil.runtime.runner import CameraRunner
    from vigil.services.alerts import AlertBus
    from vigil.sources.worker import CameraWorker

    camera = CameraConfig(name=CAMERA, url=str(clip), max_fps=CAMERA_FPS)
    bus = AlertBus()
    worker = CameraWorker(camera, context.settings.sources, loop=loop, **worker_options)
    pack_name = pack.name if pack is not None else context.settings.model_pack
    gallery = ActiveGallery(
        context.db, context.cipher, context.settings, pack_name, refresh_seconds=refresh
    )
    pack_factory: Callable[[], ModelPack] | None = None if pack is None else (lambda: pack)
    runner = CameraRunner(
        context, camera, bus, worker=worker, gallery=gallery, pack_factory=pack_factory
    )
    running = RunningCamera(runner)
    bus.subscribe(running.events.append)
    return running


@pytest.fixture()
def make_camera(make_context: ContextFactory) -> Iterator[CameraFactory]:
    """``make_camera(context, clip, *, loop, refresh, start, pack, worker_options)``: camera
    "stage" at 5 analysed fps on a file clip, with the context's pack (or ``pack``, a fake or a
    real one) and a gallery refreshed every ``refresh`` seconds. Stopped after the test."""
    cameras: list[RunningCamera] = []

    def make(
        context: AppContext,
        clip: Path,
        *,
        loop: bool = False,
        refresh: float = 15.0,
        start: bool = True,
        pack: ModelPack | None = None,
        worker_options: Mapping[str, Any] | None = None,
    ) -> RunningCamera:
        options = worker_options or {}
        camera = _camera(
            context, clip, loop=loop, refresh=refresh, pack=pack, worker_options=options
        )
        cameras.append(camera)
        if start:
            camera.runner.start()
        return camera

    yield make
    for camera in reversed(cameras):
        camera.runner.stop()


@pytest.fixture()
def running_camera(
    make_camera: CameraFactory, lin_context: AppContext, hamilton_clip: Path
) -> RunningCamera:
    """The Hamilton clip looping on ``lin_context``, started; the gallery refreshes every 0.5 s,
    so a change to an authorization reaches the running camera quickly."""
    return make_camera(lin_context, hamilton_clip, loop=True, refresh=0.5)
