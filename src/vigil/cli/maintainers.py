"""``vigil maintainer create|approve``: time-limited maintenance accounts from the shell.

The acting Vigil account is named with ``--by`` (an administrator creates, another administrator
or a supervisor approves, never the creator); the service checks both, and audits each step under
that account. Whoever runs the CLI already holds the deployment's files and database, so ``--by``
records who acts; it does not authenticate them. Running migrations and health checks stays an
administrator's shell action (``vigil migrate``); a maintainer reaches health, metrics and the
server's logs over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import typer

from vigil.cli.common import cli_errors, console, state
from vigil.errors import NotFound
from vigil.repositories.users import UserRepo
from vigil.services.maintainers import MAX_VALIDITY, approve_maintainer
from vigil.services.users import create_maintainer

maintainer_app = typer.Typer(
    help="Maintenance accounts: at most 72 h, approved by a second person, see no one.",
    no_args_is_help=True,
)
MAX_HOURS = MAX_VALIDITY.total_seconds() / 3600


@maintainer_app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the engineer's account name"),
    hours: float = typer.Option(..., "--hours", help=f"validity, at most {MAX_HOURS:g}"),
    by: str = typer.Option(..., "--by", help="the administrator creating it"),
) -> None:
    """Create a maintenance account; prints its one-time password (it cannot log in yet)."""
    context = state(ctx).context()
    user, password = create_maintainer(context.db, username, timedelta(hours=hours), actor=by)
    console.print(
        f"maintenance account {user.username!r} created, expires {user.expires_at:%Y-%m-%d %H:%M}"
        f" UTC; one-time password: {password}\n"
        "it can log in once another administrator or a supervisor approves it: "
        f"vigil maintainer approve {user.username} --by NAME"
    )


@maintainer_app.command("approve")
@cli_errors
def approve(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the maintenance account"),
    by: str = typer.Option(..., "--by", help="the approving administrator or supervisor"),
) -> None:
    """Approve a maintenance account (a second person: never its creator)."""
    context = state(ctx).context()
    with context.db.read() as s:
        found = UserRepo(s).by_name(username)
    if found is None:
        raise NotFound(f"no user named {username!r}", hint="see GET /api/users")
    user = approve_maintainer(context.db, found.id, actor=by)
    console.print(f"maintenance account {user.username!r} approved by {by}")


def register(app: typer.Typer) -> None:
    app.add_typer(maintainer_app, name="maintainer")
