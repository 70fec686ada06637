"""The `vigil` command. Sub-commands live in sibling modules, each with a ``register(app)``."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli import (
    accountability,
    bench,
    cameras,
    cluster,
    core,
    demo,
    egress,
    init,
    maintainers,
    server,
)
from vigil.cli.common import CliState, cli_errors, console, state
from vigil.runtime.no_call_home import switch_off

app = typer.Typer(
    name="vigil",
    help="Vigil: face recognition for camera networks, with its safeguards enforced in code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML config file (default: $VIGIL_HOME/vigil.yaml)",
        exists=False,
        dir_okay=False,
    ),
) -> None:
    switch_off()  # dependencies that would phone home (vigil.runtime.no_call_home)
    ctx.obj = CliState(config)
    ctx.call_on_close(ctx.obj.close)


@app.command()
@cli_errors
def migrate(ctx: typer.Context) -> None:
    """Upgrade the database schema (Alembic) of the deployment in VIGIL_HOME or database_url."""
    context = state(ctx).context()  # opening a deployment upgrades its schema
    console.print(f"database at {context.settings.db_url} is up to date")


core.register(app)
bench.register(app)
init.register(app)
server.register(app)
demo.register(app)
accountability.register(app)
cluster.register(app)
maintainers.register(app)
cameras.register(app)
egress.register(app)


def run() -> None:
    app()
