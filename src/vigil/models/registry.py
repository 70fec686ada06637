"""Choose and load a model pack by the explicit config value ``model_pack``.

Loading happens only when :func:`create_pack` is called. An unknown name is a ConfigError that
names the key and the valid names; there is never a silent fallback to another pack.

A pack is thread-safe and one serves a whole process (every camera and the web). The ONNX pack
keeps ``detector_copies`` YuNet instances (default :data:`DEFAULT_DETECTOR_COPIES`, about
17 MiB each) so that that many cameras detect at once; the onnxruntime embedder session is one.
More copies than cores cannot detect faster. The dlib pack ignores it: dlib holds the GIL while
it works, so it runs its models in ``dlib.workers`` worker processes instead
(:mod:`vigil.models.dlib_remote`). Figures: scripts/bench_serve.py (with and without
``--packs-per-camera``) and scripts/bench_pack_sharing.py.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from vigil.config import Settings
from vigil.errors import ConfigError
from vigil.models.base import FaceDetector, ModelPack

DEFAULT_DETECTOR_COPIES = 2
MAX_DETECTOR_COPIES = 16


def _dlib(settings: Settings, detector_copies: int) -> ModelPack:
    """In ``dlib.workers`` worker processes (default), or in this process when that is 0."""
    if settings.dlib.workers > 0:
        from vigil.models.dlib_remote import build_pooled_dlib_pack

        return build_pooled_dlib_pack(settings.dlib)
    from vigil.models.dlib_pack import build_dlib_pack

    return build_dlib_pack(settings)


def _onnx(settings: Settings, detector_copies: int) -> ModelPack:
    from vigil.models.onnx_pack import build_onnx_pack

    return build_onnx_pack(settings, detector_copies=detector_copies)


PACKS: dict[str, Callable[[Settings, int], ModelPack]] = {"dlib": _dlib, "onnx": _onnx}


def second_opinion_loader(settings: Settings, pack: str) -> Callable[[], FaceDetector] | None:
    """What loads the other pack's detector, for the face-likeness check on enrollment photos
    (:mod:`vigil.models.likeness`), or None where it is not installed: the ONNX pack asks dlib
    (a dependency, normally always there), the dlib pack asks YuNet where ``onnx.detector``
    names a file. Decides cheaply; the models load when the loader is called (first use)."""
    if pack == "onnx":
        if importlib.util.find_spec("dlib") is None:
            return None
        from vigil.models.dlib_pack import build_dlib_detector

        return lambda: build_dlib_detector(settings)
    path = settings.onnx.detector
    if pack != "dlib" or path is None or not Path(path).expanduser().is_file():
        return None
    from vigil.models.onnx_pack import YuNetDetector

    return lambda: YuNetDetector(Path(path).expanduser(), settings.onnx)


def in_process(settings: Settings) -> Settings:
    """``settings`` with the dlib pack loaded in the calling process (``dlib.workers: 0``): for
    processes that parallelise by themselves (one Ray actor per camera, LFW's process pool,
    whose daemonic workers may not start processes of their own)."""
    return settings.model_copy(update={"dlib": settings.dlib.model_copy(update={"workers": 0})})


def pack_names() -> tuple[str, ...]:
    return tuple(PACKS)


def create_pack(
    settings: Settings,
    name: str | None = None,
    *,
    detector_copies: int = DEFAULT_DETECTOR_COPIES,
) -> ModelPack:
    """Load the pack ``name`` (default ``settings.model_pack``) with its settings.

    ``detector_copies``: how many cameras may detect at once (ONNX pack; 1 to 16).
    """
    if not 1 <= detector_copies <= MAX_DETECTOR_COPIES:
        raise ValueError(
            f"create_pack: detector_copies must be 1 to {MAX_DETECTOR_COPIES}, "
            f"got {detector_copies}"
        )
    chosen = settings.model_pack if name is None else name
    builder = PACKS.get(chosen)
    if builder is None:
        raise ConfigError(
            "model_pack",
            f"unknown model pack {chosen!r}; valid names are {', '.join(PACKS)}.",
            hint="Set model_pack in vigil.yaml or VIGIL_MODEL_PACK to one of them.",
        )
    return builder(settings, detector_copies)
