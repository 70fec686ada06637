from pathlib import Path

import pytest

from vigil.config import load_settings, settings_environment
from vigil.errors import ConfigError


def test_defaults_are_sqlite_in_home_and_dlib(tmp_path: Path) -> None:
    s = load_settings({"VIGIL_HOME": str(tmp_path)})
    assert s.model_pack == "dlib"
    assert s.db_url == f"sqlite:///{(tmp_path / 'vigil.db').resolve()}"
    assert s.threshold == s.dlib.threshold


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    s = load_settings(
        {
            "VIGIL_HOME": str(tmp_path),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": "/models/d.onnx",
            "VIGIL_ONNX_EMBEDDER": "/models/e.onnx",
            "VIGIL_SHARED": "/data/shared",
        }
    )
    assert s.model_pack == "onnx"
    assert s.onnx.detector == Path("/models/d.onnx")
    assert s.onnx.embedder == Path("/models/e.onnx")
    assert s.shared == Path("/data/shared")
    assert s.threshold == s.onnx.threshold


def test_yaml_file_is_read_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "vigil.yaml").write_text("model_pack: onnx\ntracking:\n  best_shots: 5\n")
    s = load_settings({"VIGIL_HOME": str(tmp_path)})
    assert s.model_pack == "onnx" and s.tracking.best_shots == 5
    s = load_settings({"VIGIL_HOME": str(tmp_path), "VIGIL_MODEL_PACK": "dlib"})
    assert s.model_pack == "dlib"


@pytest.mark.parametrize(
    ("yaml_text", "env", "key"),
    [
        ("", {"VIGIL_MODEL_PACK": "insightface"}, "model_pack"),
        ("unknown_key: 1\n", {}, "unknown_key"),
        ("tracking:\n  best_shots: 0\n", {}, "tracking.best_shots"),
        ("dlib:\n  landmarks: 7\n", {}, "dlib.landmarks"),
        ("dlib:\n  still_jitters: 500\n", {}, "dlib.still_jitters"),
        ("dlib:\n  still_rotations: [20]\n", {}, "dlib.still_rotations.0"),
        ("server:\n  secret_key: changeme\n", {}, "server.secret_key"),
        ("retention:\n  audit_days: 30\n", {}, "retention.audit_days"),
        ("- a list\n", {}, "config_file"),
        ("key: [unclosed\n", {}, "config_file"),
    ],
)
def test_bad_settings_name_the_key(
    tmp_path: Path, yaml_text: str, env: dict[str, str], key: str
) -> None:
    (tmp_path / "vigil.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings({"VIGIL_HOME": str(tmp_path), **env})
    assert info.value.key == key
    assert key in str(info.value)


def test_strong_secret_is_accepted(tmp_path: Path) -> None:
    secret = "x" * 20 + "Q9v2LmT8pZr4Kc1"
    (tmp_path / "vigil.yaml").write_text(f"server:\n  secret_key: {secret}\n")
    s = load_settings({"VIGIL_HOME": str(tmp_path)})
    assert s.server.secret_key is not None
    assert s.server.secret_key.get_secret_value() == secret


def test_settings_environment_round_trips_and_leaves_secrets_out(tmp_path: Path) -> None:
    env = {
        "VIGIL_HOME": str(tmp_path),
        "VIGIL_MODEL_PACK": "onnx",
        "VIGIL_ONNX_DETECTOR": "/m/d.onnx",
        "VIGIL_ONNX_EMBEDDER": "/m/e.onnx",
        "VIGIL_SHARED": "/data/shared",
        "VIGIL_SECRET_KEY": "k" * 40,
    }
    settings = load_settings(env)
    exported = settings_environment(settings)
    assert "VIGIL_SECRET_KEY" not in exported and "VIGIL_DATABASE_URL" not in exported
    assert load_settings(exported).model_dump(exclude={"server"}) == settings.model_dump(
        exclude={"server"}
    )
