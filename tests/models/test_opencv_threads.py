"""The onnx pack sets OpenCV's thread count for the process on purpose (``onnx.opencv_threads``):
cameras already run side by side, so each call gets one thread by default; 0 leaves OpenCV's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from vigil.config import load_settings
from vigil.models.registry import create_pack


@pytest.fixture
def restored_threads() -> Iterator[int]:
    before = cv2.getNumThreads()
    yield before
    cv2.setNumThreads(before)


@pytest.mark.parametrize(("configured", "expected"), [(None, 1), ("1", 1), ("2", 2), ("0", None)])
def test_loading_the_onnx_pack_sets_opencv_threads(
    onnx_env: dict[str, str], restored_threads: int, configured, expected
) -> None:
    cv2.setNumThreads(5)
    if configured is not None:
        onnx_env["VIGIL_ONNX_OPENCV_THREADS"] = configured
    create_pack(load_settings(onnx_env)).close()
    assert cv2.getNumThreads() == (5 if expected is None else expected)


def test_a_negative_thread_count_is_refused_with_the_key(tmp_path: Path) -> None:
    from vigil.errors import ConfigError

    env = {"VIGIL_HOME": str(tmp_path), "VIGIL_ONNX_OPENCV_THREADS": "-1"}
    with pytest.raises(ConfigError, match="opencv_threads"):
        load_settings(env)
