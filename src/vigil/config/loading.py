"""pydantic-settings sources for :func:`vigil.config.load_settings`: an explicit environment
mapping (with the three short names kept) and the YAML file, handed over in a context variable
so that ``Settings()`` alone reads neither."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, EnvSettingsSource, YamlConfigSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from vigil.errors import ConfigError

ENV_PREFIX = "VIGIL_"

# Short names kept from before the variables followed the key paths; the long name wins.
ENV_SHORT_NAMES: dict[str, str] = {
    "VIGIL_KEY_FILE": "VIGIL_SECURITY_KEY_FILE",
    "VIGIL_DATA_KEY": "VIGIL_SECURITY_DATA_KEY",
    "VIGIL_SECRET_KEY": "VIGIL_SERVER_SECRET_KEY",
}


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
class LoadInputs:
    """What :func:`vigil.config.load_settings` reads besides its keyword overrides."""

    environ: Mapping[str, str]
    config_file: Path | None


_LOAD_INPUTS: ContextVar[LoadInputs | None] = ContextVar("vigil_settings_inputs", default=None)


def current_inputs() -> LoadInputs | None:
    """The inputs of the :func:`reading` block in progress, None outside one."""
    return _LOAD_INPUTS.get()


@contextmanager
def reading(inputs: LoadInputs) -> Iterator[None]:
    """Settings built inside this block read ``inputs`` (see
    ``Settings.settings_customise_sources``)."""
    token = _LOAD_INPUTS.set(inputs)
    try:
        yield
    finally:
        _LOAD_INPUTS.reset(token)
