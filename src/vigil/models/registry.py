"""Choose and load a model pack by the explicit config value ``model_pack``.

Loading happens only when :func:`create_pack` is called. An unknown name is a ConfigError that
names the key and the valid names; there is never a silent fallback to another pack.
"""

from __future__ import annotations

from collections.abc import Callable

from vigil.config import Settings
from vigil.errors import ConfigError
from vigil.models.base import ModelPack


def _dlib(settings: Settings) -> ModelPack:
    from vigil.models.dlib_pack import build_dlib_pack

    return build_dlib_pack(settings)


def _onnx(settings: Settings) -> ModelPack:
    from vigil.models.onnx_pack import build_onnx_pack

    return build_onnx_pack(settings)


PACKS: dict[str, Callable[[Settings], ModelPack]] = {"dlib": _dlib, "onnx": _onnx}


def pack_names() -> tuple[str, ...]:
    return tuple(PACKS)


def create_pack(settings: Settings, name: str | None = None) -> ModelPack:
    """Load the pack ``name`` (default ``settings.model_pack``) with its settings."""
    chosen = settings.model_pack if name is None else name
    builder = PACKS.get(chosen)
    if builder is None:
        raise ConfigError(
            "model_pack",
            f"unknown model pack {chosen!r}; valid names are {', '.join(PACKS)}.",
            hint="Set model_pack in vigil.yaml or VIGIL_MODEL_PACK to one of them.",
        )
    return builder(settings)
