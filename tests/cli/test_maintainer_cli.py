"""``vigil maintainer create|approve`` through the CLI runner, on a real deployment."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import AppContext
from vigil.domain.enums import Role
from vigil.repositories.users import UserRepo
from vigil.services.users import create_user

PASSWORD = "granite-orchard-violin-58"


def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=settings_environment(settings))
    return result.exit_code, result.output


@pytest.fixture()
def ctx(context: AppContext) -> AppContext:
    create_user(context.db, "ada", Role.admin, PASSWORD, actor="test")
    create_user(context.db, "sue", Role.supervisor, PASSWORD, actor="test")
    return context


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eng", "--hours", "100", "--by", "ada"], "at most 72 hours"),
        (["eng", "--hours", "8", "--by", "sue"], "may not create"),
    ],
)
def test_create_refusals_are_clear(
    ctx: AppContext, settings: Settings, args: list[str], message: str
) -> None:
    code, out = run(settings, "maintainer", "create", *args)
    assert code != 0 and message in out and "Traceback" not in out


def test_create_then_a_second_person_approves(ctx: AppContext, settings: Settings) -> None:
    code, out = run(settings, "maintainer", "create", "eng", "--hours", "8", "--by", "ada")
    assert code == 0, out
    assert "one-time password" in out
    code, out = run(settings, "maintainer", "approve", "eng", "--by", "ada")
    assert code != 0 and "may not also approve" in out
    code, out = run(settings, "maintainer", "approve", "eng", "--by", "sue")
    assert code == 0, out
    with ctx.db.read() as s:
        user = UserRepo(s).by_name("eng")
        assert user is not None and user.approved_by == "sue" and user.approved_at is not None
