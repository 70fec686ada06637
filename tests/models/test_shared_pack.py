"""One pack per process: ModelPack serialises the parts that are not thread-safe, per part."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import Settings
from vigil.models.base import DetectorPool, FaceDetector, FaceEmbedder, ModelPack
from vigil.models.registry import create_pack
from vigil.sources.offline import iter_file_frames
from vigil.types import AlignedFace, BBox, Detection, Embedding

IMAGE = np.zeros((8, 8, 3), np.uint8)
FACE = Detection(box=BBox(0, 0, 4, 4), landmarks=np.zeros((5, 2), np.float32), score=1.0)


class CountingDetector(FaceDetector):
    """Records how many calls were inside ``detect`` at once; ``gate`` holds each call."""

    def __init__(self, thread_safe: bool, gate: threading.Barrier | None = None) -> None:
        self.thread_safe = thread_safe
        self.gate = gate
        self.inside = 0
        self.most = 0
        self._count = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()

    def detect(self, image: np.ndarray) -> list[Detection]:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=5)  # raises BrokenBarrierError if the calls cannot meet
        else:
            self.release.wait(0.02)
        with self._count:
            self.inside -= 1
        return []


class FixedEmbedder(FaceEmbedder):
    dim = 2

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        return AlignedFace(image=IMAGE)

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        return [Embedding.normalised(np.array([1.0, 0.0]), "fake") for _ in faces]


def test_a_detector_that_is_not_thread_safe_is_called_by_one_thread_at_a_time() -> None:
    detector = CountingDetector(thread_safe=False)
    pack = ModelPack("fake", detector, FixedEmbedder())
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: pack.detect(IMAGE), range(12)))
    assert detector.most == 1


def test_a_thread_safe_detector_is_called_concurrently() -> None:
    detector = CountingDetector(thread_safe=True, gate=threading.Barrier(2))
    pack = ModelPack("fake", detector, FixedEmbedder())
    with ThreadPoolExecutor(2) as pool:  # both calls must be inside at once to pass the barrier
        list(pool.map(lambda _: pack.detect(IMAGE), range(2)))
    assert detector.most == 2


def test_embedding_does_not_wait_for_a_detection_in_progress() -> None:
    inside, release, returned = threading.Event(), threading.Event(), threading.Event()

    class HeldDetector(FaceDetector):
        def detect(self, image: np.ndarray) -> list[Detection]:
            inside.set()
            release.wait(10)
            returned.set()
            return []

    pack = ModelPack("fake", HeldDetector(), FixedEmbedder())
    holder = threading.Thread(target=pack.detect, args=(IMAGE,))
    holder.start()
    try:
        assert inside.wait(5)
        embedding = pack.embed_image(IMAGE, FACE)  # behind one pack-wide lock: waits 10 s
        assert not returned.is_set()  # the detection was still in progress
        assert embedding.vector.tolist() == [1.0, 0.0]
    finally:
        release.set()
        holder.join(10)


@pytest.mark.slow
@pytest.mark.shared
def test_the_onnx_pack_gives_the_same_faces_from_many_threads(
    onnx_pack: ModelPack, hamilton_clip: Path
) -> None:
    """YuNet keeps its input size between calls: frames of two sizes from four threads at once
    must give exactly what one thread gets."""
    frames = [f.image for f in iter_file_frames(hamilton_clip, "t", 2.0)][:12]
    images = [img if i % 2 else cv2.resize(img, (480, 270)) for i, img in enumerate(frames)]

    def faces(image: np.ndarray) -> list[tuple[float, ...]]:
        found = onnx_pack.detect(image)
        vectors = [onnx_pack.embed_image(image, d).vector for d in found]
        return [
            (d.box.x1, d.box.y1, d.box.x2, d.box.y2, float(v[0]))
            for d, v in zip(found, vectors, strict=True)
        ]

    alone = [faces(image) for image in images]
    assert sum(len(f) for f in alone) > 0
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(faces, images * 3))
    assert together == alone * 3


def test_a_detector_pool_runs_its_copies_at_once_but_each_copy_alone() -> None:
    meet = threading.Barrier(2)  # two calls must be inside at once, one in each copy
    copies = [CountingDetector(thread_safe=False, gate=meet) for _ in range(2)]
    pack = ModelPack("fake", DetectorPool(list(copies)), FixedEmbedder())
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: pack.detect(IMAGE), range(8)))
    assert [copy.most for copy in copies] == [1, 1]


def test_an_empty_detector_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one detector"):
        DetectorPool([])


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize(("copies", "kind"), [(1, "YuNetDetector"), (3, "DetectorPool")])
def test_the_onnx_pack_loads_the_detector_copies_asked_for(
    model_settings: Settings, copies: int, kind: str
) -> None:
    pack = create_pack(model_settings, "onnx", detector_copies=copies)
    assert type(pack.detector).__name__ == kind
    assert getattr(pack.detector, "size", 1) == copies
