"""CLI commands to run a deployment: ``vigil init``, ``vigil serve`` and ``vigil demo``.

* ``init`` makes a new data folder: the migrated database, the data key, ``vigil.yaml`` with a
  fresh ``server.secret_key`` and the first admin, whose one-time password is printed once.
  It never overwrites an existing deployment.
* ``serve`` runs the API, the dashboard and the cameras (the ``cameras`` list of the config is
  imported into the cameras table, then every enabled camera starts) under uvicorn; Ctrl-C or
  SIGTERM stops the cameras cleanly.
* ``demo`` builds a throw-away deployment in a temporary folder with a scene made from
  pip-installed data (see :mod:`vigil.demo`) and serves it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import SecretStr
from rich.table import Table

from vigil.accountability.crypto import default_key_path
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.signing import settings_signer, signing_key_path
from vigil.cli.common import cli_errors, console, err_console, state
from vigil.config import Settings, load_settings
from vigil.context import (
    AppContext,
    build_context,
    find_deployment,
    no_deployment,
    stored_data,
)
from vigil.db.session import Database
from vigil.errors import Conflict, InputError, VigilError

log = logging.getLogger(__name__)
CONFIG_ACTOR = "config"
# Environment values the demo must not inherit: it always builds its own throw-away deployment.
DEMO_IGNORED_ENV = ("VIGIL_HOME", "VIGIL_DATABASE_URL", "VIGIL_KEY_FILE", "VIGIL_SECRET_KEY")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    loop_files: bool = False  # file cameras restart at their end (demo)
    log_level: str = "info"


# ----------------------------------------------------------------------------------- init


def _refuse(settings: Settings, reason: str, hint: str) -> Conflict:
    return Conflict(
        f"{settings.home} already holds a Vigil deployment ({reason}); nothing was changed",
        hint=hint,
    )


def check_home_for_init(settings: Settings, config_path: Path) -> bool:
    """Refuse (Conflict) a home that holds a deployment or real data. Returns True for a
    half-made deployment: a database without users, templates or alerts (maybe with its data
    key) and no config, what a command run before `vigil init` used to leave. Init completes that
    one in place, keeping its database and key; False means the home is fresh."""
    if config_path.exists():
        raise _refuse(
            settings,
            f"{config_path} already exists",
            "serve it with `vigil serve`, or choose another folder with VIGIL_HOME / --home",
        )
    found = find_deployment(settings)
    key = settings.security.key_file or default_key_path(settings.home)
    if not found.database:
        if found.key and settings.security.data_key is None:
            raise _refuse(
                settings,
                f"the data key {key} exists but there is no database",
                f"if the key belongs to a database elsewhere, set VIGIL_DATABASE_URL to it; if it "
                f"seals nothing, move it aside (mv {key} {key}.old) and run `vigil init` again",
            )
        return False
    db = Database(settings.db_url)
    try:
        data = stored_data(db)
    finally:
        db.dispose()
    if not data.empty:
        raise _refuse(
            settings,
            f"its database holds {data.describe()} but there is no {config_path}",
            f"to keep that data, restore {config_path} from your backup (or write one holding "
            "`server: {secret_key: <48 random characters>}`) and run `vigil serve`; to start "
            f"afresh instead, move the folder aside (mv {settings.home} {settings.home}.old) and "
            "run `vigil init` again",
        )
    return True


def write_config(path: Path, tree: Mapping[str, Any]) -> None:
    """Write a new config file readable by its owner only; never replaces an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Vigil configuration written by `vigil init`. Keep server.secret_key secret.\n"
    body = yaml.safe_dump(dict(tree), sort_keys=False)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise Conflict(f"{path} already exists; nothing was changed") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(header + body)


@dataclass(frozen=True, slots=True)
class Initialised:
    settings: Settings
    password: str  # the first admin's one-time password
    completed: bool  # a half-made deployment was completed in place


def initialise(
    settings: Settings, config_path: Path, admin: str, *, plain_http: bool = False
) -> Initialised:
    """Create the deployment, or complete a half-made one in place (see
    :func:`check_home_for_init`)."""
    from vigil.domain.enums import Role
    from vigil.services.users import check_username, create_user

    check_username(admin)
    completed = check_home_for_init(settings, config_path)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(48)
    tree: dict[str, Any] = {
        "model_pack": settings.model_pack,
        # Secure cookies unless the operator says the server is reached over plain http.
        "server": {"secret_key": secret, "secure_cookies": not plain_http},
        "cameras": [],
    }
    server = settings.server.model_copy(
        update={"secret_key": SecretStr(secret), "secure_cookies": not plain_http}
    )
    final = settings.model_copy(update={"server": server})
    context = build_context(final)
    try:
        settings_signer(final, create=True)  # the audit-signing key, created 0600 now
        _, password = create_user(context.db, admin, Role.admin, actor="vigil init")
    finally:
        context.close()
    write_config(config_path, tree)
    return Initialised(final, password, completed)


def init_command(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="data folder (default: VIGIL_HOME or ./vigil-home)"
    ),
    admin: str = typer.Option("admin", "--admin", help="username of the first administrator"),
    plain_http: bool = typer.Option(
        False,
        "--plain-http",
        help="browsers reach the server over plain http (a local trial): cookies without the "
        "Secure flag. Leave it off behind an HTTPS proxy",
    ),
) -> None:
    """Create a new deployment: database, data key, config with a fresh secret, first admin."""
    cli = state(ctx)
    settings = cli.settings(home=str(home) if home else None)
    config_path = cli.config or settings.config_path
    done = initialise(settings, config_path, admin, plain_http=plain_http)
    final, password = done.settings, done.password
    if done.completed:
        console.print(
            f"{final.home} held a half-made deployment (a database with no users, templates or "
            "alerts, left by a command run before `vigil init`): completed in place, its "
            "database and data key kept."
        )
    console.print(f"[bold green]Vigil is set up[/bold green] in {final.home.resolve()}")
    console.print(f"  config:   {config_path} (server.secret_key generated; file mode 0600)")
    console.print(f"  database: {final.db_url}")
    console.print(
        f"  data key: {final.home / 'keys' / 'data.key'} (back it up, or templates are lost)"
    )
    console.print(f"  audit signing key: {signing_key_path(final)}")
    console.print(f"\nAdministrator [bold]{admin}[/bold], one-time password (shown only now):")
    console.print(f"  [bold yellow]{password}[/bold yellow]", highlight=False)
    console.print("Log in with it and choose your own password. Then run: vigil serve")
    if not plain_http:
        console.print(
            "Cookies are Secure: serve behind an HTTPS proxy (or re-create with --plain-http "
            "for a local plain-http trial)."
        )


# ---------------------------------------------------------------------------------- serve


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
        from vigil.services.alert_relay import PgAlertRelay
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
        # Several servers on one PostgreSQL: each one's alert events reach the others' buses.
        self.relay = (
            PgAlertRelay(self.context.db, self.bus).start()
            if self.context.db.is_postgresql
            else None
        )
        # This server's camera sessions: heartbeats, and closing those of servers that died.
        self.sessions = SessionKeeper(
            self.context.db,
            self.context.instance,
            self.context.settings.runtime,
            actor="vigil serve",
        )
        # Audit-head signing and retention enforcement run beside the cameras.
        self.jobs = AccountabilityJobs(self.context.db, self.context.settings)
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
            if self.relay is not None:
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


# ----------------------------------------------------------------------------------- demo


def demo_settings(home: Path, pack: str, environ: Mapping[str, str]) -> Settings:
    env = {k: v for k, v in environ.items() if k not in DEMO_IGNORED_ENV}
    return load_settings(
        env,
        home=str(home),
        model_pack=pack,
        # The demo serves plain http://127.0.0.1, where Secure cookies would not come back.
        server={"secret_key": secrets.token_urlsafe(48), "secure_cookies": False},
    )


def _print_accounts(deployment: Any, url: str) -> None:
    table = Table(
        title="Demo accounts (one-time passwords, shown once; you choose a new one at first login)"
    )
    table.add_column("username")
    table.add_column("role")
    table.add_column("one-time password", style="bold yellow")
    for account in deployment.accounts:
        table.add_row(account.username, account.role, account.password)
    console.print(table)
    console.print(
        f"Authorization [bold]{deployment.authorization}[/bold], watchlist "
        f"[bold]{deployment.watchlist}[/bold] with [bold]{deployment.subject}[/bold] enrolled "
        "from a different view of the photo."
    )
    console.print(
        f"Camera [bold]{deployment.camera}[/bold] loops {deployment.scene.video.name}; "
        "an alert appears within a minute."
    )
    console.print(
        f"Open {url} , log in as operator, then as supervisor for the second confirmation."
    )


def demo_command(
    ctx: typer.Context,
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    pack: str = typer.Option(
        "dlib", "--pack", help="model pack: dlib (default, from PyPI) or onnx"
    ),
    keep: bool = typer.Option(False, "--keep", help="keep the temporary data folder afterwards"),
) -> None:
    """A throw-away deployment with demo users, a demo camera and an enrolled face; then serve."""
    from vigil.demo import setup_demo

    check_port_free(host, port)
    home = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    try:
        settings = demo_settings(home, pack, os.environ)
        console.print(f"Building the demo deployment in {home} (model pack {pack}) …")
        context = build_context(settings)
        deployment = setup_demo(context, home / "media")  # the media folder: see camera_policy
        _print_accounts(deployment, f"http://{host}:{port}/")
        run_server(settings, ServeOptions(host, port, loop_files=True), context=context)
    finally:
        if keep:
            console.print(f"demo data kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("init")(cli_errors(init_command))
    app.command("serve")(cli_errors(serve_command))
    app.command("demo")(cli_errors(demo_command))
