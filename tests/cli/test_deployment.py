"""Only `vigil init` makes a deployment; every other command needs one and creates nothing.

A folder left half-made by a command run before this rule (a database and a key, no config, no
admin) is completed in place by `vigil init`; one holding real data is refused with the steps.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.config import load_settings
from vigil.context import build_context, find_deployment
from vigil.db.models import Authorization, User
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.services.users import create_user

AUTH_ADD = [
    "authorization",
    "add",
    "ORD-1",
    "--purpose",
    "missing_person",
    "--legal-basis",
    "Art 5",
    "--authority",
    "District Court",
    "--expires",
    "2099-01-01T00:00Z",
]


def _run(args: list[str], env: dict[str, str | None], cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(app, args, env=env)
    before = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, args, env=env)
    finally:
        os.chdir(before)


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "args",
    [
        ["authorization", "list"],
        AUTH_ADD,
        ["watchlist", "list"],
        ["enroll", "missing", "Jane", "/no/such/photo.jpg"],
        ["audit", "verify"],
        ["audit", "list"],
        ["audit", "sign"],
        ["keys", "rotate", "--yes"],
        ["retention", "run"],
        ["report"],
        ["migrate"],
        ["serve"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_commands_without_a_deployment_create_nothing(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    result = _run(args, {"VIGIL_HOME": str(home)})
    assert result.exit_code != 0, result.output
    assert f"no deployment in {home}; run `vigil init` (or set VIGIL_HOME)" in result.output
    assert "Traceback" not in result.output
    assert not home.exists()
    assert _tree(tmp_path) == []


def test_authorization_list_in_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    """The newcomer trap: the default ./vigil-home must not appear."""
    names = ("VIGIL_HOME", "VIGIL_DATABASE_URL", "VIGIL_KEY_FILE", "VIGIL_DATA_KEY")
    env: dict[str, str | None] = dict.fromkeys(names)  # unset
    result = _run(["authorization", "list"], env, cwd=tmp_path)
    assert result.exit_code == 4, result.output
    assert "no deployment in vigil-home; run `vigil init` (or set VIGIL_HOME)" in result.output
    assert _tree(tmp_path) == []


def test_commands_work_after_init(tmp_path: Path) -> None:
    env = {"VIGIL_HOME": str(tmp_path / "home")}
    assert _run(["init"], env).exit_code == 0
    listed = _run(["authorization", "list"], env)
    assert listed.exit_code == 0, listed.output
    assert "no authorizations" in listed.output
    assert _run(["migrate"], env).exit_code == 0


def _half_made(home: Path) -> tuple[Path, bytes]:
    """What `vigil authorization add` left before the fix: database, data key, one record."""
    settings = load_settings({"VIGIL_HOME": str(home)})
    ctx = build_context(settings, create=True)
    ctx.close()
    result = _run(AUTH_ADD, {"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    key = home / "keys" / "data.key"
    return key, key.read_bytes()


def test_init_completes_a_half_made_deployment_in_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key, key_bytes = _half_made(home)
    assert not (home / "vigil.yaml").exists()
    result = _run(["init"], {"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert "half-made deployment" in result.output and "completed in place" in result.output
    assert yaml.safe_load((home / "vigil.yaml").read_text())["server"]["secret_key"]
    assert key.read_bytes() == key_bytes  # the same key: nothing sealed is lost
    db = Database(f"sqlite:///{home / 'vigil.db'}")
    try:
        with db.read() as s:
            assert [a.reference for a in s.query(Authorization)] == ["ORD-1"]  # kept
            assert [(u.username, u.role) for u in s.query(User)] == [("admin", Role.admin)]
    finally:
        db.dispose()
    again = _run(["init"], {"VIGIL_HOME": str(home)})
    assert again.exit_code == 5 and "already holds a Vigil deployment" in again.output


def test_init_refuses_a_config_less_home_with_real_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings({"VIGIL_HOME": str(home)})
    ctx = build_context(settings, create=True)
    try:
        create_user(ctx.db, "chief", Role.admin, actor="test")
    finally:
        ctx.close()
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file() and p.suffix != ".db-wal"}
    result = _run(["init"], {"VIGIL_HOME": str(home)})
    assert result.exit_code == 5, result.output
    out = " ".join(result.output.split())
    assert "1 users, 0 templates, 0 alerts" in out and "nothing was changed" in out
    assert "restore" in out and f"mv {home} {home}.old" in out and "vigil init" in out
    assert not (home / "vigil.yaml").exists()
    assert (home / "keys" / "data.key").read_bytes() == before[home / "keys" / "data.key"]
    assert find_deployment(settings).exists


def test_init_refuses_a_lone_data_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = home / "keys" / "data.key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"not checked here\n")
    result = _run(["init"], {"VIGIL_HOME": str(home)})
    assert result.exit_code == 5, result.output
    assert "exists but there is no database" in " ".join(result.output.split())
    assert _tree(home) == ["keys", "keys/data.key"]
