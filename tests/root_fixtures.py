"""Root fixtures for an application context and a running camera (a plugin of tests/conftest.py;
the name ``fixtures`` is taken by pytest's own plugin).

- ``context``: an :class:`AppContext` on the test's ``settings`` (a fresh home, dlib pack);
  ``onnx_context``: the same on ``onnx_settings``.
- ``make_context(...)``: a factory for tests that need special settings or a second context on the
  same home (key loading, a restart). ``make_context(settings)`` opens one on given settings;
  ``make_context(env={...}, **sections)`` one on
  ``load_settings({"VIGIL_HOME": <the test's home>, **env}, **sections)``.
- ``lin_context`` (from tests/enrolled_context.py): ``onnx_context`` with Lin-Manuel Miranda
  enrolled under an active authorization.
- ``make_camera(context, clip, ...)``: a :class:`CameraRunner` on a file clip, started unless
  ``start=False``; ``running_camera``: the Hamilton clip looping on ``lin_context``.

Every context is closed, and every camera stopped, after the test. Cameras stop first: their
factory depends on ``make_context``, so pytest tears it down before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from enrolled_context import lin_context
from pg_server import database_env
from sqlite_template import SqliteTemplate
from vigil.config import Settings, load_settings
from vigil.context import AppContext, build_context

if TYPE_CHECKING:
    from vigil.domain.events import AlertEvent
    from vigil.models.base import ModelPack
    from vigil.runtime.runner import CameraRunner

__all__ = ["CameraFactory", "ContextFactory", "RunningCamera", "lin_context"]

CAMERA = "stage"
CAMERA_FPS = 5.0


class ContextFactory:
    """Opens contexts for one test and closes them all at :meth:`close` (newest first).

    ``seed(settings)`` runs before each build (the fixture's: a copy of the session's migrated
    SQLite template where the home has no database yet, tests/sqlite_template.py)."""

    def __init__(
        self,
        home: Path,
        database_url: str | None = None,
        seed: Callable[[Settings], object] | None = None,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.seed = seed
        self.built: list[AppContext] = []

    def __call__(
        self,
        settings: Settings | None = None,
        /,
        *,
        env: Mapping[str, str] | None = None,
        **sections: Any,
    ) -> AppContext:
        if settings is not None and (env or sections):
            raise TypeError("make_context takes either settings or env/sections, not both")
        if settings is None:
            base = {"VIGIL_HOME": str(self.home), **database_env(self.database_url)}
            settings = load_settings({**base, **(env or {})}, **sections)
        if self.seed is not None:
            self.seed(settings)
        context = build_context(settings)
        self.built.append(context)
        return context

    def close(self) -> None:
        while self.built:
            self.built.pop().close()


@dataclass
class RunningCamera:
    """A camera runner and every alert event its bus published, in order."""

    runner: CameraRunner
    events: list[AlertEvent] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class CameraFactory:
    """Builds camera "stage" (5 analysed fps) on file clips and stops them all at :meth:`stop`.

    ``pack``: a fake or real :class:`ModelPack` (default: the context's configured pack);
    ``refresh``: seconds between gallery reloads; ``worker_options``: extra CameraWorker keywords.
    """

    def __init__(self) -> None:
        self.cameras: list[RunningCamera] = []

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
    ) -> RunningCamera:
        camera = self._build(context, clip, loop, refresh, pack, worker_options or {})
        self.cameras.append(camera)
        if start:
            camera.runner.start()
        return camera

    @staticmethod
    def _build(
        context: AppContext,
        clip: Path,
        loop: bool,
        refresh: float,
        pack: ModelPack | None,
        worker_options: Mapping[str, Any],
    ) -> RunningCamera:
        from vigil.config import CameraConfig
        from vigil.runtime.runner import CameraRunner
        from vigil.services.alerts import AlertBus
        from vigil.services.gallery import ActiveGallery
        from vigil.sources.worker import AS_FAST_AS_ANALYSIS, CameraWorker

        camera = CameraConfig(name=CAMERA, url=str(clip), max_fps=CAMERA_FPS)
        bus = AlertBus()
        options = {"playback": AS_FAST_AS_ANALYSIS, **worker_options}  # files: no 1x wait
        worker = CameraWorker(camera, context.settings.sources, loop=loop, **options)
        gallery = ActiveGallery(
            context.db,
            context.cipher,
            context.settings,
            pack.name if pack is not None else context.settings.model_pack,
            refresh_seconds=refresh,
        )
        runner = CameraRunner(
            context,
            camera,
            bus,
            worker=worker,
            gallery=gallery,
            pack_factory=None if pack is None else (lambda: pack),
        )
        running = RunningCamera(runner)
        bus.subscribe(running.events.append)
        return running

    def stop(self) -> None:
        while self.cameras:
            self.cameras.pop().runner.stop()


@pytest.fixture()
def make_context(
    vigil_home: Path, database_url: str | None, sqlite_template: SqliteTemplate
) -> Iterator[ContextFactory]:
    """Open contexts (see the module docstring) on the test's database backend; all are closed
    after the test."""
    factory = ContextFactory(vigil_home, database_url, sqlite_template.seed)
    yield factory
    factory.close()


@pytest.fixture()
def context(make_context: ContextFactory, settings: Settings) -> AppContext:
    """A context on ``settings``: a migrated database and a data key in a fresh home."""
    return make_context(settings)


@pytest.fixture()
def onnx_context(make_context: ContextFactory, onnx_settings: Settings) -> AppContext:
    """A context on ``onnx_settings`` (the ONNX pack from the shared folder)."""
    return make_context(onnx_settings)


@pytest.fixture()
def make_camera(make_context: ContextFactory) -> Iterator[CameraFactory]:
    """``make_camera(context, clip, *, loop, refresh, start, pack, worker_options)``: see
    :class:`CameraFactory`; every camera is stopped after the test, before its context closes."""
    factory = CameraFactory()
    yield factory
    factory.stop()


@pytest.fixture()
def running_camera(
    make_camera: CameraFactory, lin_context: AppContext, hamilton_clip: Path
) -> RunningCamera:
    """The Hamilton clip looping on ``lin_context``, started; the gallery reloads every 0.5 s,
    so a change to an authorization reaches the running camera quickly."""
    return make_camera(lin_context, hamilton_clip, loop=True, refresh=0.5)
