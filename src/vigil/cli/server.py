"""``vigil serve``: the API, the dashboard and the cameras (the ``cameras`` list of the config is
imported into the cameras table, then every enabled camera starts) under uvicorn; Ctrl-C or
SIGTERM stops the cameras cleanly.

:class:`Runtime` holds one server's parts; :class:`BackgroundServer` runs it on a thread (tests,
benchmarks). ``vigil init`` is in :mod:`vigil.cli.init`, ``vigil demo`` in :mod:`vigil.cli.demo`.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any

import typer

from vigil.accountability.deployment_lock import DeploymentLock
from vigil.cli.common import cli_errors, console, err_console, state
from vigil.config import Settings
from vigil.context import (
    AppContext,
    build_context,
    find_deployment,
    no_deployment,
)
from vigil.errors import InputError, VigilError

log = logging.getLogger(__name__)
CONFIG_ACTOR = "config"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    loop_files: bool = False  # file cameras restart at their end (demo)
    log_level: str = "info"


def check_port_free(host: str, port: int) -> None:
    with socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
    ) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="stop the program using it or choose another --port",
            ) from exc


def import_config_cameras(context: AppContext) -> int:
    """Add the config's cameras that the cameras table lacks (audited); returns how many."""
    from vigil.services.cameras import CameraInput, CameraService

    service = CameraService(context.db)
    known = {c.name for c in service.list()}
    added = 0
    for cam in context.settings.cameras:
        if cam.name not in known:
            service.add(
                CameraInput(cam.name, cam.url, cam.max_fps, cam.enabled, cam.group),
                actor=CONFIG_ACTOR,
            )
            added += 1
    return added


def start_cameras(context: AppContext, supervisor: Any) -> list[str]:
    """Start every enabled camera of the table; a camera that fails is reported, not fatal.
    Cameras not written in vigil.yaml pass the source policy first (media folder, networks)."""
    from vigil.services.camera_policy import SourcePolicy
    from vigil.services.cameras import CameraService, to_config

    policy = SourcePolicy.from_settings(context.settings)
    started = []
    for camera in CameraService(context.db).list():
        if not camera.enabled:
            continue
        try:
            config = to_config(camera)
            url = policy.checked_camera(config.name, config.url)
            supervisor.start_camera(config.model_copy(update={"url": url}))
            started.append(camera.name)
        except VigilError as exc:
            err_console.print(
                f"[yellow]camera {camera.name} not started:[/yellow] {exc}", highlight=False
            )
    return started


class _Stop(BaseException):
    """SIGTERM/SIGINT outside uvicorn's own handling: unwind so the cameras stop cleanly."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def _run_until_signal(server: Any) -> None:
    """Run uvicorn; it shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal,
    which lands in our handler (not the default one that would kill the process uncleaned)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in previous:
            signal.signal(sig, _raise_stop)
    try:
        server.run()
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def uvicorn_config(app: Any, options: ServeOptions) -> Any:
    """uvicorn's settings; it must not rewrite the client address from X-Forwarded-For
    (its default trusts 127.0.0.1): the app does that for ``server.trusted_proxies`` only."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        lifespan="on",
        proxy_headers=False,
        forwarded_allow_ips="",
    )


class Runtime:
    """One server's parts: context, alert bus, camera supervisor, web app (``vigil serve``)."""

    def __init__(
        self, settings: Settings, options: ServeOptions, *, context: AppContext | None = None
    ) -> None:
        from vigil.accountability.jobs import AccountabilityJobs
        from vigil.runtime.engine import build_engine
        from vigil.services.alert_announce import AlertAnnouncer
        from vigil.services.alert_relay import start_relay
        from vigil.services.alerts import AlertBus
        from vigil.services.camera_sessions import SessionKeeper
        from vigil.web.app import create_app

        check_port_free(options.host, options.port)
        self.options = options
        # Held while this server runs: `vigil keys rotate` refuses meanwhile (deployment_lock).
        self.lock = DeploymentLock(settings.home, settings.db_url).hold_for_server()
        try:
            self.context = context or build_context(settings, create=False)
        except BaseException:
            self.lock.release()
            raise
        self.bus = AlertBus()
        try:  # runtime.engine: local threads (default) or a Ray cluster
            self.supervisor = build_engine(self.context, self.bus, loop_files=options.loop_files)
        except BaseException:
            self.context.close()
            self.lock.release()
            raise
        # Several servers (and the CLI) on one database: each one's alert events reach the
        # others' buses (PostgreSQL: LISTEN/NOTIFY; SQLite: the relay log polled).
        self.relay = start_relay(self.context.db, self.bus)
        # This server's camera sessions: heartbeats, and closing those of servers that died.
        self.sessions = SessionKeeper(
            self.context.db,
            self.context.instance,
            self.context.settings.runtime,
            actor="vigil serve",
        )
        # Audit-head signing and retention enforcement run beside the cameras.
        self.jobs = AccountabilityJobs(
            self.context.db, self.context.settings, events=AlertAnnouncer(self.bus)
        )
        try:
            self.app = create_app(
                settings, context=self.context, supervisor=self.supervisor, bus=self.bus
            )
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    def start_cameras(self) -> list[str]:
        """Start the camera-session heartbeat (closing sessions whose server died), then the
        configured cameras and the accountability jobs (signing, retention)."""
        closed = self.sessions.start()
        if closed:
            err_console.print(f"closed {closed} camera session(s) left open by a stopped server")
        import_config_cameras(self.context)
        self.jobs.start()
        return start_cameras(self.context, self.supervisor)

    def uvicorn_server(self) -> Any:
        import uvicorn

        return uvicorn.Server(uvicorn_config(self.app, self.options))

    def close(self) -> None:
        try:
            self.supervisor.stop_all()
            self.sessions.stop()
            self.jobs.stop()
            self.relay.stop()
            self.context.close()
        finally:
            self.lock.release()


def run_server(
    settings: Settings, options: ServeOptions, *, context: AppContext | None = None
) -> None:
    """Serve until Ctrl-C/SIGTERM, then stop every camera and close the database."""
    from vigil.services.logs import console_logging

    undo_console = console_logging()
    try:
        _serve(settings, options, context)
    finally:
        undo_console()


def _serve(settings: Settings, options: ServeOptions, context: AppContext | None) -> None:
    runtime = Runtime(settings, options, context=context)
    try:
        started = runtime.start_cameras()
        console.print(
            f"cameras running: {', '.join(started) or 'none (add them on the Cameras page)'}"
        )
        console.print(f"[bold]Vigil serves at {runtime.url}/[/bold]  (Ctrl-C stops)")
        _run_until_signal(runtime.uvicorn_server())
    finally:
        runtime.close()
        console.print("Vigil stopped: cameras closed, sessions recorded.")


class BackgroundServer(Runtime):
    """The full server on a thread, for tests and benchmarks.

    ``start()`` returns once the port accepts connections; ``stop()`` shuts uvicorn down, stops
    every camera and closes the context.
    """

    _server: Any = None
    _thread: threading.Thread | None = None

    def start(self, *, cameras: bool = True, timeout: float = 30.0) -> BackgroundServer:
        import time

        if cameras:
            self.start_cameras()
        self._server = self.uvicorn_server()
        self._thread = threading.Thread(target=self._server.run, name="vigil-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise InputError(f"the server did not start on {self.url}", hint="see its log")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        self.close()


def serve_command(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, "--host", help="address to bind (default server.host, 127.0.0.1)"
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="port (default server.port, 8000)"
    ),
    loop_files: bool = typer.Option(
        False, "--loop-files", help="restart video-file cameras at their end (demos, soak tests)"
    ),
) -> None:
    """Run the API, the dashboard and the cameras until Ctrl-C."""
    cli = state(ctx)
    settings = cli.settings()
    if not find_deployment(settings).exists:
        raise no_deployment(settings.home)
    if settings.server.secret_key is None:
        raise InputError(
            f"the deployment in {settings.home} has no server.secret_key "
            f"(no {settings.config_path})",
            hint="run `vigil init` to complete it, or point VIGIL_HOME / --config at your "
            "deployment",
        )
    options = ServeOptions(
        host or settings.server.host, port or settings.server.port, loop_files=loop_files
    )
    run_server(settings, options)


def register(app: typer.Typer) -> None:
    """Add ``vigil serve`` to the root app."""
    app.command("serve")(cli_errors(serve_command))
