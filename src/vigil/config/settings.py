"""The :class:`Settings` of a deployment and :func:`load_settings`, which builds them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from vigil.config.analysis import MatchingConfig, QualityConfig, TrackingConfig
from vigil.config.cameras import CameraConfig, SourceConfig
from vigil.config.loading import (
    ENV_PREFIX,
    CheckedYamlSource,
    LoadInputs,
    MappingEnvSource,
    current_inputs,
    env_name,
    reading,
)
from vigil.config.packs import DlibConfig, OnnxConfig, PackName
from vigil.config.retention import AlertsOutConfig, RetentionConfig
from vigil.config.runtime import RuntimeConfig
from vigil.config.server import SecurityConfig, ServerConfig
from vigil.errors import ConfigError


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
        inputs = current_inputs()
        if inputs is None:
            return (init_settings,)
        return (
            init_settings,
            MappingEnvSource(settings_cls, inputs.environ),
            CheckedYamlSource(settings_cls, inputs.config_file),
        )


# Settings handed to a child process by :func:`settings_environment` (secrets never are).
CHILD_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("home",),
    ("model_pack",),
    ("database_url",),
    ("onnx", "detector"),
    ("onnx", "embedder"),
    ("security", "key_file"),
)


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
        with reading(LoadInputs(environ, path)):
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
