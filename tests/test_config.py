from pathlib import Path

import pytest

from vigil.accountability.threshold import configured_threshold
from vigil.config import Settings, TrackingConfig, load_settings, settings_environment
from vigil.errors import ConfigError


def test_defaults_are_sqlite_in_home_and_dlib(tmp_path: Path) -> None:
    s = load_settings({"VIGIL_HOME": str(tmp_path)})
    assert s.model_pack == "dlib"
    assert s.db_url == f"sqlite:///{(tmp_path / 'vigil.db').resolve()}"
    assert configured_threshold(s, s.model_pack) == s.dlib.threshold


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    s = load_settings(
        {
            "VIGIL_HOME": str(tmp_path),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": "/models/d.onnx",
            "VIGIL_ONNX_EMBEDDER": "/models/e.onnx",
        }
    )
    assert s.model_pack == "onnx"
    assert s.onnx.detector == Path("/models/d.onnx")
    assert s.onnx.embedder == Path("/models/e.onnx")
    assert configured_threshold(s, s.model_pack) == s.onnx.threshold


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
        "VIGIL_KEY_FILE": "/keys/data.key",
        "VIGIL_SECRET_KEY": "k" * 40,
    }
    settings = load_settings(env)
    exported = settings_environment(settings)
    assert "VIGIL_SECRET_KEY" not in exported and "VIGIL_DATABASE_URL" not in exported
    assert not any("SECRET" in name or "DATA_KEY" in name for name in exported)
    assert load_settings(exported).model_dump(exclude={"server"}) == settings.model_dump(
        exclude={"server"}
    )


@pytest.mark.parametrize(
    ("env", "path", "expected"),
    [
        ({"VIGIL_HOME": "/srv/vigil"}, ("home",), Path("/srv/vigil")),
        ({"VIGIL_MODEL_PACK": "onnx"}, ("model_pack",), "onnx"),
        ({"VIGIL_DATABASE_URL": "sqlite:////tmp/x.db"}, ("database_url",), "sqlite:////tmp/x.db"),
        ({"VIGIL_ONNX_DETECTOR": "/m/d.onnx"}, ("onnx", "detector"), Path("/m/d.onnx")),
        ({"VIGIL_ONNX_EMBEDDER": "/m/e.onnx"}, ("onnx", "embedder"), Path("/m/e.onnx")),
        ({"VIGIL_KEY_FILE": "/k/data.key"}, ("security", "key_file"), Path("/k/data.key")),
        ({"VIGIL_SECURITY_KEY_FILE": "/k/b.key"}, ("security", "key_file"), Path("/k/b.key")),
        ({"VIGIL_DATA_KEY": "A" * 44}, ("security", "data_key"), "A" * 44),
        ({"VIGIL_SECRET_KEY": "s" * 40}, ("server", "secret_key"), "s" * 40),
        ({"VIGIL_SERVER_SECRET_KEY": "t" * 40}, ("server", "secret_key"), "t" * 40),
        ({"VIGIL_SERVER_PORT": "9000"}, ("server", "port"), 9000),
        ({"VIGIL_TRACKING_BEST_SHOTS": "4"}, ("tracking", "best_shots"), 4),
        ({"VIGIL_DLIB_STILL_ROTATIONS": "[1.5]"}, ("dlib", "still_rotations"), [1.5]),
        ({"vigil_model_pack": "onnx"}, ("model_pack",), "onnx"),
        ({"VIGIL_MODEL_PACK": ""}, ("model_pack",), "dlib"),
        ({"VIGIL_SHARED": "/data/shared", "PATH": "/bin"}, ("model_pack",), "dlib"),
    ],
)
def test_environment_names(
    tmp_path: Path, env: dict[str, str], path: tuple[str, ...], expected: object
) -> None:
    value: object = load_settings({"VIGIL_HOME": str(tmp_path), **env})
    for key in path:
        value = getattr(value, key)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    assert value == expected


def test_sources_rank_overrides_env_yaml_defaults(tmp_path: Path) -> None:
    (tmp_path / "vigil.yaml").write_text(
        "model_pack: onnx\nserver:\n  port: 8100\n  host: 0.0.0.0\ntracking:\n  best_shots: 5\n"
    )
    s = load_settings(
        {"VIGIL_HOME": str(tmp_path), "VIGIL_SERVER_PORT": "8200", "VIGIL_MODEL_PACK": "dlib"},
        server={"port": 8300},
    )
    assert s.server.port == 8300  # override > env > yaml
    assert s.server.host == "0.0.0.0"  # yaml, merged under the override of the same section
    assert s.model_pack == "dlib"  # env > yaml
    assert s.tracking.best_shots == 5 and s.tracking.best_shots != TrackingConfig().best_shots
    assert s.tracking.max_gap_seconds == TrackingConfig().max_gap_seconds  # default


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({}, config_file=tmp_path / "missing.yaml")
    assert info.value.key == "config_file" and "missing.yaml" in str(info.value)


def test_settings_alone_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MODEL_PACK", "onnx")
    assert Settings().model_pack == "dlib"
    assert load_settings({}).model_pack == "dlib"


def test_bad_environment_json_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"VIGIL_HOME": str(tmp_path), "VIGIL_CAMERAS": "not json"})
    assert info.value.key == "cameras" and "VIGIL_CAMERAS" in str(info.value)


def test_shared_data_is_not_a_setting(tmp_path: Path) -> None:
    assert "shared" not in Settings.model_fields
    (tmp_path / "vigil.yaml").write_text("shared: /data\n")
    with pytest.raises(ConfigError) as info:
        load_settings({"VIGIL_HOME": str(tmp_path)})
    assert info.value.key == "shared"
