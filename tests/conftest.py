"""Shared fixtures. Test data is read from VIGIL_SHARED (default ../shared), never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vigil.config import Settings, default_shared, load_settings
from vigil.db.session import Database


def _shared_root() -> Path:
    return Path(os.environ.get("VIGIL_SHARED") or default_shared())


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    root = _shared_root()
    if not (root / "SOURCES.md").exists():
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
def settings(vigil_home: Path) -> Settings:
    return load_settings({"VIGIL_HOME": str(vigil_home), "VIGIL_SHARED": str(_shared_root())})


@pytest.fixture()
def onnx_settings(vigil_home: Path, onnx_models: tuple[Path, Path]) -> Settings:
    det, emb = onnx_models
    return load_settings(
        {
            "VIGIL_HOME": str(vigil_home),
            "VIGIL_SHARED": str(_shared_root()),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": str(det),
            "VIGIL_ONNX_EMBEDDER": str(emb),
        }
    )


@pytest.fixture()
def db(settings: Settings) -> Database:
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
            "VIGIL_SHARED": str(_shared_root()),
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

pytest_plugins = ["root_fixtures"]
