"""``vigil egress``: the endpoints this deployment may reach and those it reached."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from vigil.cli.common import cli_errors, console, state


@cli_errors
def egress_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """List what this deployment may connect to (cameras, sinks, database, Ray) and what it
    reached: endpoint, count, last time, from the audit and the camera sessions."""
    from vigil.services.egress import allowed, reached

    cli = state(ctx)
    settings = cli.settings()
    may = allowed(settings)
    did = reached(cli.context().db, settings)
    if as_json:
        body = {
            "allowed": [{"kind": e.kind, "name": e.name, "endpoint": e.endpoint} for e in may],
            "reached": [
                {
                    "kind": r.kind,
                    "endpoint": r.endpoint,
                    "count": r.count,
                    "failed": r.failed,
                    "last": r.last.isoformat(),
                }
                for r in did
            ],
        }
        console.print_json(json.dumps(body))
        return
    table = Table("kind", "name", "endpoint", title="may reach (configured)")
    for e in may:
        table.add_row(e.kind, e.name, e.endpoint)
    console.print(table)
    done = Table("kind", "endpoint", "count", "failed", "last", title="reached")
    for r in did:
        done.add_row(r.kind, r.endpoint, str(r.count), str(r.failed), r.last.isoformat())
    console.print(done if did else "reached: nothing yet")


def register(app: typer.Typer) -> None:
    app.command("egress")(egress_command)
