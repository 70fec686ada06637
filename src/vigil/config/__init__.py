"""Vigil's configuration: one pydantic model, unknown keys forbidden, every field described.

The sections live in sibling modules (packs, analysis, cameras, server, retention, runtime), the
settings model and its loading in :mod:`vigil.config.settings` and :mod:`vigil.config.loading`;
this package re-exports every public name.

Settings are built explicitly by :func:`load_settings` with pydantic-settings sources, highest
first: keyword overrides, the environment mapping it is given, the YAML file, the defaults.
Nothing reads the process environment at import time, and ``Settings()`` alone reads none at all.

Environment variables are ``VIGIL_`` + the key path joined by ``_`` (case-insensitive), one level
deep: ``VIGIL_HOME``, ``VIGIL_MODEL_PACK``, ``VIGIL_DATABASE_URL``, ``VIGIL_ONNX_DETECTOR``,
``VIGIL_ONNX_EMBEDDER``, ``VIGIL_TRACKING_BEST_SHOTS``, ... Three short names are kept:
``VIGIL_KEY_FILE`` (security.key_file), ``VIGIL_DATA_KEY`` (security.data_key) and
``VIGIL_SECRET_KEY`` (server.secret_key). Empty values count as unset.
"""

from vigil.config.analysis import MatchingConfig, QualityConfig, TrackingConfig
from vigil.config.cameras import (
    DENIED_BY_DEFAULT_V4,
    DENIED_BY_DEFAULT_V6,
    CameraConfig,
    SourceConfig,
)
from vigil.config.loading import (
    ENV_PREFIX,
    ENV_SHORT_NAMES,
    CheckedYamlSource,
    MappingEnvSource,
    env_name,
)
from vigil.config.packs import DlibConfig, OnnxConfig, PackName, PixelMean, PixelStd
from vigil.config.retention import AlertsOutConfig, RetentionConfig
from vigil.config.runtime import RayAddress, RuntimeConfig
from vigil.config.server import PLACEHOLDER_SECRETS, SecurityConfig, ServerConfig
from vigil.config.settings import (
    CHILD_SETTINGS,
    Settings,
    load_settings,
    settings_environment,
)

__all__ = [
    "CHILD_SETTINGS",
    "DENIED_BY_DEFAULT_V4",
    "DENIED_BY_DEFAULT_V6",
    "ENV_PREFIX",
    "ENV_SHORT_NAMES",
    "PLACEHOLDER_SECRETS",
    "AlertsOutConfig",
    "CameraConfig",
    "CheckedYamlSource",
    "DlibConfig",
    "MappingEnvSource",
    "MatchingConfig",
    "OnnxConfig",
    "PackName",
    "PixelMean",
    "PixelStd",
    "QualityConfig",
    "RayAddress",
    "RetentionConfig",
    "RuntimeConfig",
    "SecurityConfig",
    "ServerConfig",
    "Settings",
    "SourceConfig",
    "TrackingConfig",
    "env_name",
    "load_settings",
    "settings_environment",
]
