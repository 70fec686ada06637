"""Shared fixtures. Test data is read from VIGIL_SHARED (default ../shared from the project
root), never copied. It is test configuration, not a product setting.

Without the data the tests that need it skip, except in CI (``CI=true``), where the whole run
stops at once with one message naming VIGIL_SHARED: CI must never pass without its data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from vigil.config import Settings, load_settings
from vigil.db.session import Database

if TYPE_CHECKING:  # imported where used: tests/test_conftest.py runs a copy of this file alone
    from sqlite_template import SqliteTemplate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_MARKER = "SOURCES.md"  # present at the root of a complete shared/ folder


def _shared_root() -> Path:
    return Path(os.environ.get("VIGIL_SHARED") or PROJECT_ROOT.parent / "shared")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_sessionstart(session: pytest.Session) -> None:
    root = _shared_root()
    if _in_ci() and not (root / SHARED_MARKER).is_file():
        pytest.exit(
            f"CI=true but the test data is missing: {root / SHARED_MARKER} not found. "
            "Set VIGIL_SHARED to the shared/ folder (data and models listed in SOURCES.md); "
            "in CI the tests that need it fail instead of skipping.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session", autouse=True)
def _cheap_argon2() -> Iterator[None]:
    """Still argon2id, with test-sized cost: the production parameters take ~0.3 s of CPU per
    hash on CI's 2 cores, and the tests hash and verify hundreds of passwords in this process
    (``vigil serve`` subprocesses keep the production cost). tests/web/test_security.py checks
    the production hasher separately."""
    from argon2 import PasswordHasher

    from vigil.services import credentials

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            credentials, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
        )
        mp.setattr(credentials, "_DUMMY_HASH", None)
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """The session's migrated SQLite database, copied into fresh homes (sqlite_template.py)."""
    from sqlite_template import SqliteTemplate

    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    root = _shared_root()
    if not (root / SHARED_MARKER).exists():
        pytest.skip(f"test data not found at {root}; set VIGIL_SHARED to the shared/ folder")
    return root


@pytest.fixture(scope="session")
def photos(shared_dir: Path) -> Path:
    return shared_dir / "data" / "photos"


@pytest.fixture(scope="session")
def hamilton_clip(shared_dir: Path) -> Path:
    return shared_dir / "data" / "video" / "short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def onnx_models(shared_dir: Path) -> tuple[Path, Path]:
    return (
        shared_dir / "models" / "yunet_2023mar.onnx",
        shared_dir / "models" / "mobilefacenet.onnx",
    )


@pytest.fixture()
def vigil_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture()
def settings(vigil_home: Path, database_url: str | None) -> Settings:
    """A fresh home; its database is the test's backend (SQLite in HOME, or a fresh PG one)."""
    env = {"VIGIL_HOME": str(vigil_home)}
    if database_url:
        env["VIGIL_DATABASE_URL"] = database_url
    return load_settings(env)


@pytest.fixture()
def onnx_settings(
    vigil_home: Path, onnx_models: tuple[Path, Path], database_url: str | None
) -> Settings:
    det, emb = onnx_models
    return load_settings(
        {
            "VIGIL_HOME": str(vigil_home),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": str(det),
            "VIGIL_ONNX_EMBEDDER": str(emb),
        }
        | ({"VIGIL_DATABASE_URL": database_url} if database_url else {})
    )


@pytest.fixture()
def db(settings: Settings, sqlite_template: SqliteTemplate) -> Iterator[Database]:
    sqlite_template.seed(settings)  # SQLite: a copy of the migrated template (PG: one already)
    database = Database(settings.db_url)
    database.migrate()
    yield database
    database.dispose()


# --- model packs, loaded once per session (real models; tests using them are marked slow) ---


@pytest.fixture(scope="session")
def model_settings(
    tmp_path_factory: pytest.TempPathFactory, onnx_models: tuple[Path, Path]
) -> Settings:
    """Settings able to build both packs (ONNX paths from the shared folder)."""
    det, emb = onnx_models
    return load_settings(
        {
            "VIGIL_HOME": str(tmp_path_factory.mktemp("models-home")),
            "VIGIL_ONNX_DETECTOR": str(det),
            "VIGIL_ONNX_EMBEDDER": str(emb),
        }
    )


@pytest.fixture(scope="session")
def dlib_pack(model_settings: Settings):
    from vigil.models.registry import create_pack

    return create_pack(model_settings, "dlib")


@pytest.fixture(scope="session")
def onnx_pack(model_settings: Settings):
    from vigil.models.registry import create_pack

    return create_pack(model_settings, "onnx")


@pytest.fixture(scope="session", params=["dlib", "onnx"])
def any_pack(request: pytest.FixtureRequest):
    """Each model pack in turn."""
    return request.getfixturevalue(f"{request.param}_pack")


# --- root fixtures: context, onnx_context, make_context, lin_context, make_camera, running_camera.
# They live in tests/root_fixtures.py, a plugin (pytest's own plugin is named "fixtures").
# tests/pg_server.py: the session's PostgreSQL cluster and the db_backend / database_url fixtures.

pytest_plugins = ["pg_server", "root_fixtures"]
