"""The data key can come from the environment (VIGIL_DATA_KEY) instead of a key file."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from root_fixtures import ContextFactory
from vigil.cli.main import app
from vigil.db.models import Template
from vigil.errors import ConfigError, IntegrityError
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _enroll_one(make_context: ContextFactory, key: str) -> np.ndarray:
    ctx = make_context(env={"VIGIL_DATA_KEY": key})
    AuthorizationService(ctx.db).create(
        AuthorizationInput("R-1", "missing_person", "order", "Court", utcnow() + timedelta(1)),
        actor="t",
    )
    WatchlistService(ctx.db, ctx.cipher).create("wl", "R-1", actor="t")
    vec = Embedding.normalised(np.arange(1, 129, dtype=np.float32), "dlib")
    face = ValidatedFace(vec, Quality(1, 1, 1, 1), b"\xff\xd8crop", "a.jpg")
    WatchlistService(ctx.db, ctx.cipher).enroll("wl", "A", [face], actor="t")
    return vec.vector


def _open_first_template(make_context: ContextFactory, key: str) -> np.ndarray:
    """A second context on the same home, opened with ``key``."""
    ctx = make_context(env={"VIGIL_DATA_KEY": key})
    with ctx.db.read() as s:
        tpl = s.scalars(select(Template)).first()
    assert tpl is not None
    plain = ctx.cipher.open(tpl.vector, f"template:{tpl.id}".encode())
    return np.frombuffer(plain, dtype=np.float32)


def test_environment_key_is_used_and_no_key_file_is_written(
    make_context: ContextFactory, vigil_home: Path
) -> None:
    key = _key()
    vector = _enroll_one(make_context, key)
    assert not (vigil_home / "keys" / "data.key").exists()
    assert np.array_equal(_open_first_template(make_context, key), vector)


def test_wrong_environment_key_is_a_clear_error_and_loses_nothing(
    make_context: ContextFactory,
) -> None:
    key = _key()
    vector = _enroll_one(make_context, key)
    with pytest.raises(IntegrityError, match="different key"):
        _open_first_template(make_context, _key())
    assert np.array_equal(_open_first_template(make_context, key), vector)


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!", "not a base64 key"), (base64.b64encode(b"short").decode(), "expected 32")],
)
def test_malformed_environment_key_names_the_setting(
    make_context: ContextFactory, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        make_context(env={"VIGIL_DATA_KEY": value})
    assert info.value.key == "security.data_key"


def test_rotation_with_an_environment_key_is_refused_with_the_way_out(
    make_context: ContextFactory, vigil_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key()
    vector = _enroll_one(make_context, key)
    monkeypatch.setenv("VIGIL_HOME", str(vigil_home))
    monkeypatch.setenv("VIGIL_DATA_KEY", key)
    if make_context.database_url:
        monkeypatch.setenv("VIGIL_DATABASE_URL", make_context.database_url)
    result = CliRunner().invoke(app, ["keys", "rotate", "--yes"])
    assert result.exit_code != 0
    assert "VIGIL_KEY_FILE" in result.output
    assert np.array_equal(_open_first_template(make_context, key), vector)
