"""Pack selection and model-file errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigil.config import Settings, load_settings
from vigil.errors import ConfigError, ModelError
from vigil.models.registry import create_pack, pack_names, second_opinion_loader


def test_unknown_pack_name_is_a_config_error_naming_key_and_choices(settings: Settings) -> None:
    with pytest.raises(ConfigError) as caught:
        create_pack(settings, "tensorflow")
    assert caught.value.key == "model_pack"
    for name in ("tensorflow", "dlib", "onnx"):
        assert name in str(caught.value)


def test_unknown_pack_in_environment_is_refused(vigil_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"VIGIL_HOME": str(vigil_home), "VIGIL_MODEL_PACK": "insightface"})
    assert caught.value.key == "model_pack"


def test_known_pack_names() -> None:
    assert pack_names() == ("dlib", "onnx")


def _garbage(tmp: Path) -> Path:
    path = tmp / "garbage.onnx"
    path.write_bytes(b"this is not an onnx model" * 20)
    return path


@pytest.mark.parametrize(
    ("detector", "embedder", "key", "env", "problem"),
    [
        ("unset", "real", "onnx.detector", "VIGIL_ONNX_DETECTOR", "no file given"),
        ("real", "unset", "onnx.embedder", "VIGIL_ONNX_EMBEDDER", "no file given"),
        ("missing", "real", "onnx.detector", "VIGIL_ONNX_DETECTOR", "no such file"),
        ("real", "missing", "onnx.embedder", "VIGIL_ONNX_EMBEDDER", "no such file"),
        ("garbage", "real", "onnx.detector", "VIGIL_ONNX_DETECTOR", "OpenCV cannot load"),
        ("real", "garbage", "onnx.embedder", "VIGIL_ONNX_EMBEDDER", "onnxruntime cannot load"),
        ("real", "detector", "onnx.embedder", "VIGIL_ONNX_EMBEDDER", "output has shape"),
        ("embedder", "real", "onnx.detector", "VIGIL_ONNX_DETECTOR", "does not run as YuNet"),
    ],
)
def test_onnx_model_file_errors(
    tmp_path: Path,
    onnx_models: tuple[Path, Path],
    detector: str,
    embedder: str,
    key: str,
    env: str,
    problem: str,
) -> None:
    real_det, real_emb = onnx_models
    choices = {
        "unset": None,
        "missing": tmp_path / "nowhere.onnx",
        "garbage": _garbage(tmp_path),
        "detector": real_det,
        "embedder": real_emb,
    }
    det = real_det if detector == "real" else choices[detector]
    emb = real_emb if embedder == "real" else choices[embedder]
    settings = Settings(home=tmp_path, model_pack="onnx", onnx={"detector": det, "embedder": emb})
    with pytest.raises(ModelError) as caught:
        create_pack(settings)
    message = str(caught.value)
    assert key in message and env in message and problem in message
    path = det if key == "onnx.detector" else emb
    if path is not None:
        assert str(path) in message
    assert "expected" in message


def test_nothing_is_loaded_at_import_time() -> None:
    code = (
        "import sys, vigil.models.registry, vigil.bench.lfw, vigil.services.enrollment;"
        "heavy = ('dlib', 'onnxruntime', 'face_recognition_models');"
        "loaded = [m for m in heavy if m in sys.modules];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("copies", [0, 17])
def test_detector_copies_are_bounded(settings: Settings, copies: int) -> None:
    with pytest.raises(ValueError, match="detector_copies must be 1 to 16"):
        create_pack(settings, "onnx", detector_copies=copies)


@pytest.mark.parametrize(
    ("pack", "detector", "loads"),
    [
        ("onnx", None, "DlibDetector"),  # dlib is a dependency: always there
        ("dlib", None, None),  # no YuNet configured: no second opinion
        ("dlib", "missing", None),
        ("dlib", "real", "YuNetDetector"),
    ],
)
def test_second_opinion_is_the_other_packs_detector(
    tmp_path: Path, onnx_models: tuple[Path, Path], pack: str, detector: str | None, loads: str
) -> None:
    paths = {None: None, "missing": tmp_path / "nowhere.onnx", "real": onnx_models[0]}
    settings = Settings(home=tmp_path, onnx={"detector": paths[detector]})
    loader = second_opinion_loader(settings, pack)
    if loads is None:
        assert loader is None
    else:
        assert loader is not None and type(loader()).__name__ == loads
