"""``vigil cluster status``: nodes, cameras per node, gallery version per actor (Ray engine)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from vigil.cli.common import cli_errors, console, state
from vigil.errors import ConfigError

cluster_app = typer.Typer(help="The Ray cluster running the cameras.", no_args_is_help=True)


@cluster_app.command("status")
@cli_errors
def cluster_status_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Nodes, the cameras on each, and each camera actor's gallery version and lag."""
    from vigil.runtime.cluster_status import cluster_status

    config = state(ctx).settings().runtime
    if config.engine != "ray":
        raise ConfigError(
            "runtime.engine",
            "this deployment runs its cameras locally, not on a Ray cluster",
            hint="set runtime: {engine: ray, address: HOST:PORT}",
        )
    status = cluster_status(config)
    if as_json:
        console.print_json(json.dumps(status.as_dict(), default=str))
        return
    nodes = Table("node", "address", "alive", "CPUs", "cameras", title="nodes")
    for n in status.nodes:
        nodes.add_row(n.node_id[:12], n.address, str(n.alive), f"{n.cpus:g}", ", ".join(n.cameras))
    console.print(nodes)
    actors = Table(
        "camera", "node", "state", "fps", "gallery", "entries", "lag", "age s", "pending",
        "dropped", "dropped sightings", title="camera actors",
    )  # fmt: skip
    for a in status.actors:
        age = "" if a.gallery_age_seconds is None else f"{a.gallery_age_seconds:.0f}"
        actors.add_row(
            a.camera,
            a.node_ip or "?",
            a.state,
            f"{a.fps_analysed:.1f}",
            str(a.gallery_version),
            str(a.gallery_entries),
            str(a.gallery_lag),
            age,
            str(a.pending),
            str(a.dropped),
            str(a.dropped_sightings),
        )
    console.print(actors)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
