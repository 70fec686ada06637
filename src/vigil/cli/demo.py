"""``vigil demo``: a throw-away deployment in a temporary folder with a scene made from
pip-installed data (see :mod:`vigil.demo`), served like ``vigil serve``."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.common import cli_errors, console
from vigil.cli.server import ServeOptions, check_port_free, run_server
from vigil.config import Settings, load_settings
from vigil.context import build_context

# Environment values the demo must not inherit: it always builds its own throw-away deployment.
DEMO_IGNORED_ENV = ("VIGIL_HOME", "VIGIL_DATABASE_URL", "VIGIL_KEY_FILE", "VIGIL_SECRET_KEY")


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
    """Add ``vigil demo`` to the root app."""
    app.command("demo")(cli_errors(demo_command))
