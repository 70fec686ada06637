"""Vigil's configuration: one pydantic model, unknown keys forbidden, every field described.

Settings are built explicitly by :func:`load_settings` with pydantic-settings sources, highest
first: keyword overrides, the environment mapping it is given, the YAML file, the defaults.
Nothing reads the process environment at import time, and ``Settings()`` alone reads none at all.

Environment variables are ``VIGIL_`` + the key path joined by ``_`` (case-insensitive), one level
deep: ``VIGIL_HOME``, ``VIGIL_MODEL_PACK``, ``VIGIL_DATABASE_URL``, ``VIGIL_ONNX_DETECTOR``,
``VIGIL_ONNX_EMBEDDER``, ``VIGIL_TRACKING_BEST_SHOTS``, ... Three short names are kept:
``VIGIL_KEY_FILE`` (security.key_file), ``VIGIL_DATA_KEY`` (security.data_key) and
``VIGIL_SECRET_KEY`` (server.secret_key). Empty values count as unset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from vigil.domain.camera_groups import (
    CAMERA_GROUP_PATTERN,
    DEFAULT_CAMERA_GROUP,
    MAX_GROUP_LENGTH,
)
from vigil.errors import ConfigError

PackName = Literal["dlib", "onnx"]
DENIED_BY_DEFAULT_V4 = ("127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8")
DENIED_BY_DEFAULT_V6 = ("::1/128", "fe80::/10", "::/128")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "admin", "default", "xxx"}


# Embedder input normalisation, in pixel units (0-255): (pixel - mean) / std.
PixelMean = Annotated[float, Field(ge=0.0, le=255.0)]
PixelStd = Annotated[float, Field(gt=0.0, le=255.0)]


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
        0.92,
        ge=-1.0,
        le=1.0,
        description="cosine similarity a camera face needs for a match (the video threshold; "
        "default from `vigil bench openset --cctv`, see the README)",
    )
    workers: int = Field(
        2,
        ge=0,
        le=16,
        description="worker processes that run dlib's detector and ResNet for every camera and "
        "enrollment of a process, so that they do not queue behind dlib's hold on Python's GIL "
        "(about that many cores busy at once; each holds about 150 MiB of models); 0 runs dlib "
        "in the calling process (one call at a time)",
    )
    video_min_face_px: int = Field(
        36,
        ge=8,
        le=1000,
        description="smallest face (px, from the landmarks) a camera matches at that threshold",
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
    input_mean: PixelMean | tuple[PixelMean, PixelMean, PixelMean] = Field(
        127.5,
        description="the embedder sees (pixel - input_mean) / input_std, pixels 0-255: one value "
        "for every channel, or three in the embedder's channel order (see color_order)",
    )
    input_std: PixelStd | tuple[PixelStd, PixelStd, PixelStd] = Field(
        127.5,
        description="divisor after input_mean (0 < std <= 255): one value or three, as input_mean",
    )
    score_threshold: float = Field(0.7, ge=0.0, le=1.0, description="YuNet face score threshold")
    enroll_score_threshold: float = Field(
        0.85,
        ge=0.0,
        le=1.0,
        description="enrollment photos: a face YuNet scores below this is refused as "
        "not_a_face (stricter than score_threshold, which is for video)",
    )
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="YuNet non-maximum suppression")
    threshold: float = Field(
        0.505,
        ge=-1.0,
        le=1.0,
        description="cosine similarity a camera face needs for a match (the video threshold; "
        "default from `vigil bench openset --cctv`, see the README)",
    )
    video_min_face_px: int = Field(
        64,
        ge=8,
        le=1000,
        description="smallest face (px, from the landmarks) a camera matches at that threshold",
    )
    threads: int = Field(
        1,
        ge=1,
        le=64,
        description="onnxruntime intra-op threads of the embedder session (one session serves "
        "every camera of a process, each camera calling it from its own thread): 1, the default, "
        "keeps N cameras on few cores from starting N x cores threads that fight for them; raise "
        "it only for a few cameras on many cores",
    )


class QualityConfig(_Strict):
    min_face_px: int = Field(
        36,
        ge=8,
        le=1000,
        description="smallest face worth embedding or enrolling, in pixels of face width "
        "measured from the landmarks (2.5 x the distance between the eye centres, "
        "vigil.faces.geometry.face_size_px), the same for every model pack",
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
    enroll_second_opinion: bool = Field(
        True,
        description="enrollment photos: ask the other model pack's detector (where installed) "
        "whether the face is a human face (refuses animals and drawings as not_a_face)",
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
    early_margin: float | None = Field(
        0.06,
        ge=0.0,
        le=1.0,
        description="alert at once from a gated shot (each of a track's first best_shots gated "
        "shots is tried as it comes) that scores at least threshold + early_margin x "
        "(1 - threshold): a fraction of the way from the pack's threshold to a perfect match, so "
        "one value suits every pack (onnx 0.505 -> 0.535, dlib 0.92 -> 0.925; chosen on "
        "open-set LFW probes: `vigil bench openset --cctv`, section 'early'). Later, better "
        "shots of the track update that alert's sighting. A borderline score waits for the "
        "track's best shots as without it. null: every track waits for its best shots",
    )


class MatchingConfig(_Strict):
    top_k: int = Field(3, ge=1, le=50, description="candidates returned per probe")
    index: Literal["auto", "numpy", "hnsw", "usearch", "ivf", "faiss"] = Field(
        "auto",
        description="gallery index per authorization: auto (exact below 20,000 entries, then "
        "usearch HNSW: chosen by measurement, README 'Gallery index'), numpy (exact), hnsw "
        "(hnswlib), usearch, ivf (faiss IVF) or faiss (exact faiss)",
    )
    gallery_snapshot: bool = Field(
        True,
        description="the command center keeps its built gallery index, encrypted, in "
        "HOME/gallery/ and loads it at start instead of rebuilding (then applies what changed)",
    )
    gallery_snapshot_max_age_hours: float = Field(
        168.0,
        gt=0.0,
        le=8760.0,
        description="an older gallery snapshot is ignored: the gallery is built from the database",
    )
    gallery_refresh_seconds: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="how often running cameras look for gallery changes (enrolled, removed, "
        "revoked entries; applied in place)",
    )
    gallery_reconcile_seconds: float = Field(
        300.0,
        gt=0.0,
        le=86_400.0,
        description="how often the running gallery checks every template id against the "
        "database (safety net)",
    )


def _networks(cidrs: tuple[str, ...]) -> list[IPv4Network | IPv6Network]:
    return [ip_network(c) for c in cidrs]


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
    media_dir: Path | None = Field(
        None,
        description="the only folder whose video files cameras added through the API may play "
        "(default HOME/media); symbolic links and '..' are resolved before the check",
    )
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: _networks(("0.0.0.0/0", "::/0")),
        max_length=256,
        description="networks (CIDR) API cameras may connect to; for each address the most "
        "specific network of this list and denied_networks decides, this list winning a tie",
    )
    denied_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: (
            [IPv4Network(n) for n in DENIED_BY_DEFAULT_V4]
            + [IPv6Network(n) for n in DENIED_BY_DEFAULT_V6]
        ),
        max_length=256,
        description="networks (CIDR) API cameras may not connect to (default: loopback, "
        "link-local and unspecified addresses: the server itself and cloud metadata services)",
    )


class CameraConfig(_Strict):
    name: str = Field(
        ..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="camera name"
    )
    group: str = Field(
        DEFAULT_CAMERA_GROUP,
        min_length=1,
        max_length=MAX_GROUP_LENGTH,
        pattern=CAMERA_GROUP_PATTERN,
        description="camera group: the public transparency page publishes figures per group",
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
    credential_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=2,
        description="how long an authenticated token or session is remembered (0: never). "
        "Revocation, logout and role or password changes apply at once in the same server "
        "process; other processes see them within this many seconds",
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="failed logins of an account before attempts must wait"
    )
    login_delay_seconds: float = Field(
        1.0, gt=0, le=60, description="first wait after login_max_failures; doubles each failure"
    )
    login_max_delay_seconds: float = Field(
        60.0, ge=1, le=3600, description="longest wait between login attempts of one account"
    )
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed (default none)",
    )
    secure_cookies: bool = Field(
        True, description="set the Secure flag on cookies (false only for plain-http local use)"
    )
    metrics_public: bool = Field(
        False,
        description="serve /metrics (aggregate camera and alert figures, no identities) to "
        "anonymous scrapers; false requires a login or API token",
    )
    log_buffer_records: int = Field(
        2000,
        ge=100,
        le=100_000,
        description="log records each server process keeps in memory for the Logs page and "
        "GET /api/logs (the oldest are dropped); none are written to disk by this buffer",
    )
    log_buffer_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="lowest level of Vigil's own records the buffer keeps (other libraries: "
        "WARNING and above; the HTTP access log: never)",
    )
    public_report: bool = Field(
        False,
        description="publish /public/transparency (HTML) and /public/transparency.json (signed "
        "with the deployment's Ed25519 key) with no login: monthly aggregates only, counts 1-4 "
        "shown as '< 5'; false answers 404",
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


ENV_PREFIX = "VIGIL_"


RayAddress = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:\[\]-]+:[0-9]{1,5}$",
        description="the Ray head's GCS address, HOST:PORT (as `ray start --head` prints it)",
    ),
]


class RuntimeConfig(_Strict):
    """Where cameras run: ``local`` threads in this process (the default) or a Ray cluster."""

    engine: Literal["local", "ray"] = Field(
        "local", description="local: camera threads in `vigil serve`; ray: one actor per camera"
    )
    address: RayAddress | None = Field(
        None, description="Ray head HOST:PORT (engine ray); never 'auto': say where it is"
    )
    node_ip_address: str | None = Field(
        None,
        pattern=r"^[0-9A-Fa-f.:]+$",
        description="the address this command center's Ray driver uses (default: 127.0.0.1 for "
        "a loopback head, else Ray's choice); workers must reach it",
    )
    namespace: str = Field(
        "vigil",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Ray namespace of the camera actors (one per deployment)",
    )
    num_cpus_per_camera: float = Field(
        1.0, gt=0.0, le=64.0, description="CPUs Ray reserves for each camera actor"
    )
    max_task_retries: int = Field(
        3, ge=-1, le=100, description="retries of a call to a restarting camera actor (-1: forever)"
    )
    gallery_check_seconds: float = Field(
        2.0, gt=0.0, le=60.0, description="how often the command center checks for gallery changes"
    )
    gallery_publish_seconds: float = Field(
        30.0,
        gt=0.0,
        le=60.0,
        description="the gallery is published to every camera actor at least this often",
    )
    poll_seconds: float = Field(
        0.25, gt=0.0, le=10.0, description="how often the command center collects from actors"
    )
    pending_candidates: int = Field(
        1000, ge=1, le=100_000, description="unsent candidates an actor keeps; beyond, dropped"
    )
    session_heartbeat_seconds: float = Field(
        30.0,
        ge=1.0,
        le=600.0,
        description="how often a server records that its camera sessions are still running",
    )
    session_stale_seconds: float = Field(
        120.0,
        ge=5.0,
        le=86_400.0,
        description="a camera session whose server sent no heartbeat for this long is closed "
        "at its last heartbeat (the server was killed); at least 3 heartbeats",
    )

    @model_validator(mode="after")
    def _address_for_ray(self) -> RuntimeConfig:
        if self.engine == "ray" and self.address is None:
            raise ValueError(
                "runtime.engine 'ray' needs runtime.address: the head node's HOST:PORT"
            )
        return self

    @model_validator(mode="after")
    def _stale_after_heartbeats(self) -> RuntimeConfig:
        if self.session_stale_seconds < 3 * self.session_heartbeat_seconds:
            raise ValueError(
                f"runtime.session_stale_seconds ({self.session_stale_seconds:g}) must be at least "
                f"3 x runtime.session_heartbeat_seconds ({self.session_heartbeat_seconds:g}), or "
                "a slow heartbeat would close a running server's camera sessions"
            )
        return self


class Settings(BaseSettings):
    """Every setting of a deployment. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_assignment=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_ignore_empty=True,
        case_sensitive=False,
    )

    home: Path = Field(Path("vigil-home"), description="data folder: database, keys, config")
    model_pack: PackName = Field("dlib", description="face model pack: dlib (default) or onnx")
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
    runtime: RuntimeConfig = Field(
        default_factory=RuntimeConfig, description="where cameras run: local threads or Ray"
    )
    max_image_bytes: int = Field(20_000_000, ge=1024, description="largest accepted image upload")
    max_image_pixels: int = Field(
        12_000_000,
        ge=10_000,
        le=40_000_000,
        description="largest enrollment photo in pixels (width x height), read from the file "
        "header before anything is decoded; a face photo needs no more than about 12 Mpx, and "
        "decoding cost grows with pixels, not with file size",
    )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'vigil.db').resolve()}"

    @property
    def config_path(self) -> Path:
        return self.home / "vigil.yaml"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """init kwargs > the given environment > the YAML file > defaults; ``Settings()`` outside
        :func:`load_settings` uses only its keyword arguments and the defaults."""
        inputs = _LOAD_INPUTS.get()
        if inputs is None:
            return (init_settings,)
        return (
            init_settings,
            MappingEnvSource(settings_cls, inputs.environ),
            CheckedYamlSource(settings_cls, inputs.config_file),
        )


# Short names kept from before the variables followed the key paths; the long name wins.
ENV_SHORT_NAMES: dict[str, str] = {
    "VIGIL_KEY_FILE": "VIGIL_SECURITY_KEY_FILE",
    "VIGIL_DATA_KEY": "VIGIL_SECURITY_DATA_KEY",
    "VIGIL_SECRET_KEY": "VIGIL_SERVER_SECRET_KEY",
}
# Settings handed to a child process by :func:`settings_environment` (secrets never are).
CHILD_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("home",),
    ("model_pack",),
    ("database_url",),
    ("onnx", "detector"),
    ("onnx", "embedder"),
    ("security", "key_file"),
)


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable of a key path: ``("onnx", "detector")`` -> VIGIL_ONNX_DETECTOR."""
    return ENV_PREFIX + "_".join(path).upper()


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading an explicit mapping, not ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = dict(self._environ)
        for short, long in ENV_SHORT_NAMES.items():
            if env.get(short) and not env.get(long):
                env[long] = env[short]
            env.pop(short, None)
        return parse_env_vars(env, self.case_sensitive, self.env_ignore_empty)


class CheckedYamlSource(YamlConfigSettingsSource):
    """pydantic-settings' YAML source; an unreadable, invalid or non-mapping file is a
    ConfigError naming ``config_file``."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls, yaml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except OSError as exc:
            raise ConfigError("config_file", f"cannot read {file_path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError("config_file", f"{file_path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("config_file", f"{file_path} must hold a mapping of settings")
        return data


@dataclass(frozen=True, slots=True)
class _LoadInputs:
    environ: Mapping[str, str]
    config_file: Path | None


_LOAD_INPUTS: ContextVar[_LoadInputs | None] = ContextVar("vigil_settings_inputs", default=None)


@contextmanager
def _sources(inputs: _LoadInputs) -> Iterator[None]:
    token = _LOAD_INPUTS.set(inputs)
    try:
        yield
    finally:
        _LOAD_INPUTS.reset(token)


def settings_environment(settings: Settings) -> dict[str, str]:
    """Environment that reproduces ``settings`` in a child process (a `vigil` subprocess or CLI
    runner): the paths of :data:`CHILD_SETTINGS`; secrets are left out, unset values omitted."""
    env: dict[str, str] = {}
    for path in CHILD_SETTINGS:
        value: Any = settings
        for key in path:
            value = getattr(value, key)
        if value is not None:
            env[env_name(path)] = str(value)
    return env


def load_settings(
    environ: Mapping[str, str],
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from (lowest to highest): defaults, YAML file, ``environ``, ``overrides``.

    The YAML file is ``config_file`` if given (it must exist), else ``HOME/vigil.yaml`` when it
    exists, HOME coming from ``overrides``, then ``environ``, then the default.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    home = Path(
        overrides.get("home") or _env_home(environ) or Settings.model_fields["home"].default
    )
    path = config_file or (home / "vigil.yaml")
    if config_file is not None and not config_file.is_file():
        raise ConfigError("config_file", f"cannot read {config_file}: no such file")
    overrides.setdefault("home", home)
    try:
        with _sources(_LoadInputs(environ, path)):
            return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(
            key, first["msg"], hint=f"fix it in {path} or the matching VIGIL_* environment variable"
        ) from exc
    except SettingsError as exc:
        found = re.search(r'field "(\w+)"', str(exc))
        key = found.group(1) if found else "environment"
        raise ConfigError(
            key,
            f"{env_name((key,))} cannot be parsed",
            hint="a list or section given in the environment must be JSON",
        ) from exc


def _env_home(environ: Mapping[str, str]) -> str | None:
    for name, value in environ.items():
        if name.upper() == env_name(("home",)) and value:
            return value
    return None
