"""Vigil's configuration: one pydantic model, unknown keys forbidden, every field described.

Settings are built explicitly by :func:`load_settings` (YAML file + a fixed table of environment
overrides); nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from vigil.errors import ConfigError

PackName = Literal["dlib", "onnx"]
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "admin", "default", "xxx"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DlibConfig(_Strict):
    upsample: int = Field(
        1, ge=0, le=3, description="HOG detector upsampling (finds smaller faces, slower)"
    )
    num_jitters: int = Field(
        0, ge=0, le=10, description="dlib ResNet jitters per face in video (0 = fastest)"
    )
    landmarks: Literal[5, 68] = Field(
        68,
        description="shape predictor used for alignment: 68 points (the alignment dlib's "
        "ResNet was trained with, about 1 ms a face) or 5 points (0.4 ms)",
    )
    still_jitters: int = Field(
        0,
        ge=0,
        le=100,
        description="ResNet jitters for each still-photo chip: its descriptor becomes the mean "
        "over this many randomly shifted, scaled and mirrored copies (about 75 ms each; 0 = off)",
    )
    still_mirror: bool = Field(
        True,
        description="still photos (enrollment, LFW): also embed the mirror image of each "
        "aligned chip (one more ResNet pass per landmark model)",
    )
    still_both_landmarks: bool = Field(
        True,
        description="still photos: also embed chips aligned by the other landmark model "
        "(5 or 68 points; doubles the cost)",
    )
    still_rotations: list[Annotated[float, Field(ge=-10.0, le=10.0)]] = Field(
        default_factory=lambda: [3.0, -3.0],
        max_length=6,
        description="still photos: also embed each aligned chip turned in-plane by these "
        "angles in degrees (each -10..10; one more ResNet pass per angle and landmark model)",
    )
    cnn_fallback: bool = Field(
        True,
        description="still photos only: when HOG finds no face, try dlib's CNN (mmod) "
        "detector (1-3 s a photo; never used on video)",
    )
    threshold: float = Field(
        0.92, ge=-1.0, le=1.0, description="cosine similarity needed for a match"
    )


class OnnxConfig(_Strict):
    detector: Path | None = Field(
        None, description="path to a YuNet .onnx file (cv2.FaceDetectorYN)"
    )
    embedder: Path | None = Field(
        None, description="path to an ArcFace-compatible embedder .onnx file"
    )
    color_order: Literal["rgb", "bgr"] = Field(
        "rgb", description="channel order the embedder expects"
    )
    input_mean: float = Field(127.5, description="subtracted from pixel values before the embedder")
    input_std: float = Field(
        127.5, gt=0, description="pixel values are divided by this after the mean"
    )
    score_threshold: float = Field(0.7, ge=0.0, le=1.0, description="YuNet face score threshold")
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="YuNet non-maximum suppression")
    threshold: float = Field(
        0.45, ge=-1.0, le=1.0, description="cosine similarity needed for a match"
    )
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per session")


class QualityConfig(_Strict):
    min_face_px: int = Field(
        36, ge=8, le=1000, description="smallest face side (pixels) worth embedding"
    )
    min_sharpness: float = Field(
        20.0, ge=0.0, description="Laplacian variance below which a face is blurred"
    )
    max_yaw_ratio: float = Field(
        0.6, ge=0.0, le=1.0, description="pose limit from landmark asymmetry"
    )
    min_score: float = Field(
        0.35, ge=0.0, le=1.0, description="combined quality needed to embed a track"
    )


class TrackingConfig(_Strict):
    iou_threshold: float = Field(
        0.25, ge=0.0, le=1.0, description="box overlap to continue a track"
    )
    max_gap_seconds: float = Field(
        1.0, gt=0.0, le=30.0, description="a track ends after this long unseen"
    )
    best_shots: int = Field(3, ge=1, le=10, description="best shots per track that are embedded")
    decide_after_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="a track's one match decision is made after this long"
    )
    passage_gap_seconds: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="a person matched again on the same camera this soon continues an alert",
    )


class MatchingConfig(_Strict):
    top_k: int = Field(3, ge=1, le=50, description="candidates returned per probe")
    index: Literal["numpy", "faiss"] = Field("numpy", description="gallery index backend")
    gallery_refresh_seconds: float = Field(
        15.0, gt=0.0, le=60.0, description="how often running cameras reload authorized entries"
    )


class SourceConfig(_Strict):
    reconnect_initial_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="first reconnect delay"
    )
    reconnect_max_seconds: float = Field(30.0, gt=0.0, le=600.0, description="reconnect delay cap")
    buffer_frames: int = Field(
        2, ge=1, le=64, description="frames queued per camera; oldest dropped"
    )
    open_timeout_seconds: float = Field(10.0, gt=0.0, le=120.0, description="stream open timeout")
    read_timeout_seconds: float = Field(10.0, gt=0.0, le=120.0, description="stream read timeout")


class CameraConfig(_Strict):
    name: str = Field(
        ..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="camera name"
    )
    url: str = Field(..., min_length=1, description="file path, rtsp://, http(s):// MJPEG URL")
    max_fps: float = Field(5.0, gt=0.0, le=60.0, description="cap on analysed frames per second")
    enabled: bool = Field(True, description="start this camera with `vigil serve`")


class RetentionConfig(_Strict):
    candidate_alert_days: int = Field(30, ge=1, le=3650, description="unreviewed candidate alerts")
    rejected_alert_days: int = Field(30, ge=1, le=3650, description="rejected (false) alerts")
    confirmed_alert_days: int = Field(180, ge=1, le=3650, description="confirmed alerts")
    crop_days: int = Field(30, ge=1, le=3650, description="alert face crops")
    count_days: int = Field(730, ge=1, le=3650, description="aggregate per-minute face counts")
    audit_days: int = Field(183, ge=183, le=36500, description="audit log (at least 6 months)")
    run_every_minutes: int = Field(
        60, ge=1, le=1440, description="how often the retention job runs"
    )


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", description="address `vigil serve` binds")
    port: int = Field(8000, ge=1, le=65535, description="port `vigil serve` binds")
    secret_key: SecretStr | None = Field(
        None, description="session/CSRF signing key (generated by init)"
    )
    session_hours: float = Field(8.0, gt=0, le=168, description="session lifetime")
    login_max_failures: int = Field(5, ge=1, le=100, description="failed logins before lockout")
    lockout_minutes: float = Field(15.0, gt=0, le=1440, description="lockout duration")
    secure_cookies: bool = Field(False, description="set the Secure flag (enable behind HTTPS)")
    metrics_public: bool = Field(
        True,
        description="serve /metrics (aggregate camera and alert figures, no identities) to "
        "anonymous scrapers; false requires a login or API token",
    )

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        raw = value.get_secret_value()
        if raw.strip().lower() in PLACEHOLDER_SECRETS or len(raw) < 32:
            raise ValueError(
                "placeholder or short secret refused; run `vigil init` or set 32+ random characters"
            )
        return value


class SecurityConfig(_Strict):
    data_key: SecretStr | None = Field(
        None,
        description="base64 AES-256 data key given directly (VIGIL_DATA_KEY); overrides key_file",
    )
    key_file: Path | None = Field(
        None, description="AES-256 data key file (default HOME/keys/data.key)"
    )
    signing_key_file: Path | None = Field(
        None, description="Ed25519 key (default HOME/keys/signing.key)"
    )


class AlertsOutConfig(_Strict):
    webhooks: list[str] = Field(default_factory=list, description="URLs receiving confirmed alerts")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for webhook bodies")
    mqtt_host: str | None = Field(None, description="MQTT broker host for confirmed alerts")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_topic: str = Field("vigil/alerts/confirmed", description="MQTT topic")


class Settings(_Strict):
    home: Path = Field(Path("vigil-home"), description="data folder: database, keys, config")
    model_pack: PackName = Field("dlib", description="face model pack: dlib (default) or onnx")
    shared: Path = Field(
        default_factory=lambda: default_shared(), description="test/benchmark data root"
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in HOME")
    dlib: DlibConfig = Field(default_factory=DlibConfig)
    onnx: OnnxConfig = Field(default_factory=OnnxConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    sources: SourceConfig = Field(default_factory=SourceConfig)
    cameras: list[CameraConfig] = Field(
        default_factory=list, description="cameras `vigil serve` runs"
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    alerts_out: AlertsOutConfig = Field(default_factory=AlertsOutConfig)
    max_image_bytes: int = Field(20_000_000, ge=1024, description="largest accepted image upload")
    max_image_pixels: int = Field(
        40_000_000, ge=10_000, description="largest accepted decoded image"
    )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'vigil.db').resolve()}"

    @property
    def threshold(self) -> float:
        """Cosine threshold in force for the selected pack."""
        return self.dlib.threshold if self.model_pack == "dlib" else self.onnx.threshold

    @property
    def config_path(self) -> Path:
        return self.home / "vigil.yaml"


def project_root() -> Path:
    """The source checkout root (src layout): src/vigil/config.py -> parents[2]."""
    return Path(__file__).resolve().parents[2]


def default_shared() -> Path:
    return project_root().parent / "shared"


# Environment variable -> path of keys in the settings tree. The only environment Vigil reads.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "VIGIL_HOME": ("home",),
    "VIGIL_MODEL_PACK": ("model_pack",),
    "VIGIL_ONNX_DETECTOR": ("onnx", "detector"),
    "VIGIL_ONNX_EMBEDDER": ("onnx", "embedder"),
    "VIGIL_SHARED": ("shared",),
    "VIGIL_DATABASE_URL": ("database_url",),
    "VIGIL_KEY_FILE": ("security", "key_file"),
    "VIGIL_DATA_KEY": ("security", "data_key"),
    "VIGIL_SECRET_KEY": ("server", "secret_key"),
}


SECRET_ENV = {"VIGIL_DATA_KEY", "VIGIL_SECRET_KEY"}


def settings_environment(settings: Settings) -> dict[str, str]:
    """The inverse of ENV_OVERRIDES: environment that reproduces ``settings`` in a child process
    (a `vigil` subprocess or CLI runner). Secrets are left out; unset values are omitted."""
    env: dict[str, str] = {}
    for name, keys in ENV_OVERRIDES.items():
        if name in SECRET_ENV:
            continue
        value: Any = settings
        for key in keys:
            value = getattr(value, key)
        if value is not None:
            env[name] = str(value)
    return env


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError("config_file", f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError("config_file", f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("config_file", f"{path} must hold a mapping of settings")
    return data


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from (lowest to highest): defaults, YAML file, environment, ``overrides``.

    The YAML file is ``config_file`` if given, else ``HOME/vigil.yaml`` when it exists.
    """
    env = dict(os.environ if environ is None else environ)
    env_tree: dict[str, Any] = {}
    for name, keys in ENV_OVERRIDES.items():
        if env.get(name):
            _set_path(env_tree, keys, env[name])
    home = Path(
        overrides.get("home") or env_tree.get("home") or Settings.model_fields["home"].default
    )
    path = config_file or (home / "vigil.yaml")
    tree: dict[str, Any] = _read_yaml(path) if (config_file or path.exists()) else {}
    _merge(tree, env_tree)
    for key, value in overrides.items():
        if value is not None:
            tree[key] = value
    tree.setdefault("home", str(home))
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(
            key,
            first["msg"],
            hint=f"fix it in {path} or the matching VIGIL_* environment variable",
        ) from exc


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
