"""Closing the application context stops its model pack's worker processes (``vigil serve``
closes it on SIGTERM/Ctrl-C; tests/cli/test_serve_workers.py checks the processes are gone)."""

from __future__ import annotations

import numpy as np

from vigil.context import AppContext
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.types import AlignedFace, Detection, Embedding


class _Detector(FaceDetector):
    def detect(self, image: np.ndarray) -> list[Detection]:
        return []


class _Embedder(FaceEmbedder):
    dim = 128

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        raise AssertionError("unused")

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        raise AssertionError("unused")


class ClosingPack(ModelPack):
    def __init__(self) -> None:
        super().__init__("dlib", _Detector(), _Embedder())
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_closing_the_context_closes_its_pack_once(context: AppContext) -> None:
    pack = ClosingPack()
    context._pack = pack  # as if loaded by the first camera
    assert context.pack is pack
    context.close()
    context.close()
    assert pack.closed == 1


def test_a_context_whose_pack_never_loaded_closes_without_loading_it(context: AppContext) -> None:
    context.close()
    assert context._pack is None
