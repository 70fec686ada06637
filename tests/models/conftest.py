"""Fixtures shared by the model tests: an onnx deployment's environment and clip frames."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ClipFrames = Callable[..., list[np.ndarray]]


@pytest.fixture
def onnx_env(tmp_path: Path, onnx_models: tuple[Path, Path]) -> dict[str, str]:
    """The environment of an onnx deployment in ``tmp_path`` (add keys to change a setting)."""
    return {
        "VIGIL_HOME": str(tmp_path),
        "VIGIL_MODEL_PACK": "onnx",
        "VIGIL_ONNX_DETECTOR": str(onnx_models[0]),
        "VIGIL_ONNX_EMBEDDER": str(onnx_models[1]),
    }


@pytest.fixture(scope="session")
def clip_frames_every(hamilton_clip: Path) -> ClipFrames:
    """``frames(every, limit=None)``: every ``every``-th BGR frame of the Hamilton clip, at most
    ``limit`` of them (decoded once per choice)."""
    cache: dict[tuple[int, int | None], list[np.ndarray]] = {}

    def frames(every: int, limit: int | None = None) -> list[np.ndarray]:
        if (every, limit) not in cache:
            import av

            kept: list[np.ndarray] = []
            with av.open(str(hamilton_clip)) as container:
                for index, frame in enumerate(container.decode(video=0)):
                    if index % every == 0:
                        kept.append(frame.to_ndarray(format="bgr24"))
                    if len(kept) == limit:
                        break
            cache[every, limit] = kept
        return cache[every, limit]

    return frames
