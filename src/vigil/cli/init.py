"""``vigil init``: a new data folder with the migrated database, the data key, ``vigil.yaml``
holding a fresh ``server.secret_key``, and the first admin, whose one-time password is printed
once. It never overwrites an existing deployment (a half-made one is completed in place)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import SecretStr

from vigil.accountability.crypto import default_key_path
from vigil.accountability.signing import settings_signer, signing_key_path
from vigil.cli.common import cli_errors, console, state
from vigil.config import Settings
from vigil.context import build_context, find_deployment, stored_data
from vigil.db.session import Database
from vigil.errors import Conflict


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


def register(app: typer.Typer) -> None:
    """Add ``vigil init`` to the root app."""
    app.command("init")(cli_errors(init_command))
