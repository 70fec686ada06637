"""The dlib pack with its models in worker processes (``dlib.workers``, default 2).

dlib holds Python's GIL for the whole of each call (about 125 ms per ResNet descriptor, 25-110 ms
per HOG detection), so in one process every camera thread, the web server and an enrollment
queue behind it. :class:`PooledDlibPack` keeps the pack's interface but runs each call in one of
K worker processes (:class:`vigil.models.process_pool.WorkerPool`, each with its own in-process
pack from :func:`vigil.models.dlib_pack.build_local_dlib_pack`); the calling thread waits on a
pipe with the GIL released.

What travels: a frame for detection (there is no smaller input to a detector; a detection near
the tracks sends their boxes too, and the worker scans windows around them); for embedding
and alignment only a window of the frame around the face (:func:`face_crop`, a few tens of KiB),
from which the worker computes the landmarks, the 150x150 chip and the descriptor exactly as the
in-process pack does on the whole frame (tests/models/test_dlib_remote.py compares them). A
still photo's 8-chip embedding is one request, so an enrollment holds one worker and no camera.

Parent-side cost: no dlib model is loaded in the calling process at all.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.config import DlibConfig
from vigil.errors import ModelError
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.models.dlib_pack import PACK_NAME, build_local_dlib_pack, check_bgr
from vigil.models.process_pool import WorkerPool
from vigil.types import AlignedFace, BBox, Detection, Embedding, FaceShot

# The window sent for a face reaches this many box sides beyond the box on each side: dlib's chip
# (padding 0.25 around the landmarks, turned by the face's roll, plus the still photos' extra
# turns) stays well inside it, so the worker samples the same pixels as on the whole frame.
CROP_MARGIN = 1.5


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """A window of a BGR frame around one face, with the detection in the window's pixels."""

    image: np.ndarray
    detection: Detection


def _even_floor(value: float) -> int:
    """An even offset keeps ``round()`` (which rounds halves to even) of shifted coordinates
    equal to the shifted ``round()`` of the originals, so dlib sees the same face rectangle."""
    low = max(0, math.floor(value))
    return low - low % 2


def face_crop(image: np.ndarray, detection: Detection) -> FaceCrop:
    """The window of ``image`` the worker needs to align and embed ``detection``'s face."""
    check_bgr(image)
    box = detection.box
    reach = CROP_MARGIN * max(box.width, box.height)
    height, width = image.shape[:2]
    x0, y0 = _even_floor(box.x1 - reach), _even_floor(box.y1 - reach)
    x1 = min(width, math.ceil(box.x2 + reach))
    y1 = min(height, math.ceil(box.y2 + reach))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"dlib pack: the face box {box} lies outside the {width}x{height} image")
    moved = Detection(
        box=BBox(box.x1 - x0, box.y1 - y0, box.x2 - x0, box.y2 - y0),
        landmarks=(detection.landmarks - np.array([x0, y0], dtype=np.float32)).astype(np.float32),
        score=detection.score,
    )
    return FaceCrop(np.ascontiguousarray(image[y0:y1, x0:x1]), moved)


# --- requests: what a worker is asked (typed, picklable) ---


@dataclass(frozen=True, slots=True)
class DetectRequest:
    image: np.ndarray  # a whole BGR frame or photo
    thorough: bool = False  # detect_thorough (the CNN) instead of detect (HOG)
    near: tuple[BBox, ...] | None = None  # detect_near these boxes (HOG over windows around them)
    video: bool = False  # detect_frame (a whole video frame) instead of detect (a still photo)


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    crops: tuple[FaceCrop, ...]  # video faces: align and embed each


@dataclass(frozen=True, slots=True)
class StillRequest:
    crop: FaceCrop  # a still photo's face: the pack's multi-chip still embedding


@dataclass(frozen=True, slots=True)
class AlignRequest:
    crop: FaceCrop  # the 150x150 chip only


@dataclass(frozen=True, slots=True)
class ChipsRequest:
    chips: tuple[np.ndarray, ...]  # chips from align: embed them


class DlibHandler:
    """Runs inside a worker process: an in-process dlib pack answering requests."""

    def __init__(self, pack: ModelPack) -> None:
        self.pack = pack

    def handle(self, request: object) -> object:
        pack = self.pack
        match request:
            case DetectRequest(image=image, thorough=True):
                return pack.detect_thorough(image)
            case DetectRequest(image=image, near=near) if near is not None:
                return pack.detect_near(image, near)
            case DetectRequest(image=image, video=True):
                return pack.detect_frame(image)
            case DetectRequest(image=image):
                return pack.detect(image)
            case EmbedRequest(crops=crops):
                faces = [pack.embedder.align(c.image, c.detection) for c in crops]
                return pack.embedder.embed(faces)
            case StillRequest(crop=crop):
                return pack.embed_still(crop.image, crop.detection)
            case AlignRequest(crop=crop):
                return pack.embedder.align(crop.image, crop.detection)
            case ChipsRequest(chips=chips):
                return pack.embedder.embed([AlignedFace(image=c) for c in chips])
        raise TypeError(f"dlib worker: unknown request {type(request).__name__}")


def make_handler(config: DlibConfig) -> DlibHandler:
    """The worker processes' factory (module level, so that it pickles)."""
    return DlibHandler(build_local_dlib_pack(config))


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ModelError(f"dlib worker answered {type(value).__name__} to {what}")
    return value


class RemoteDlibDetector(FaceDetector):
    thread_safe = True  # each call borrows a worker of its own

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_bgr(image)
        return list(_expect(self._pool.call(DetectRequest(image)), list, "detect"))

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        check_bgr(image)
        return list(_expect(self._pool.call(DetectRequest(image, True)), list, "detect_thorough"))

    def detect_frame(self, image: np.ndarray) -> list[Detection]:
        check_bgr(image)
        found = self._pool.call(DetectRequest(image, video=True))
        return list(_expect(found, list, "detect_frame"))

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        check_bgr(image)
        found = self._pool.call(DetectRequest(image, near=tuple(boxes)))
        return list(_expect(found, list, "detect_near"))


class RemoteDlibEmbedder(FaceEmbedder):
    dim = 128
    thread_safe = True

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # started on the first spread

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        face = self._pool.call(AlignRequest(face_crop(image, detection)))
        return _expect(face, AlignedFace, "align")  # type: ignore[no-any-return]

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        if not faces:
            return []
        found = self._pool.call(ChipsRequest(tuple(f.image for f in faces)))
        return self._checked(found, len(faces))

    def embed_crops(self, crops: list[FaceCrop]) -> list[Embedding]:
        """Align and embed each face (what cameras use): several faces are spread over up to
        every worker at once (:meth:`_spread`), so a frame with three new faces waits about one
        descriptor's time, not three."""
        if not crops:
            return []
        parts = min(len(crops), self._pool.size)
        if parts == 1:
            return self._checked(self._pool.call(EmbedRequest(tuple(crops))), len(crops))
        return self._spread(crops, parts)

    def _spread(self, crops: list[FaceCrop], parts: int) -> list[Embedding]:
        """One request per share of ``crops`` (every ``parts``-th face), sent at once from
        helper threads that wait on the workers' pipes (GIL released); answers in input order."""
        shares = [crops[i::parts] for i in range(parts)]
        jobs = [
            self._sender().submit(self._pool.call, EmbedRequest(tuple(share))) for share in shares
        ]
        placed: dict[int, Embedding] = {}
        for start, (job, share) in enumerate(zip(jobs, shares, strict=True)):
            answers = self._checked(job.result(), len(share))
            placed.update(zip(range(start, len(crops), parts), answers, strict=True))
        return [placed[i] for i in range(len(crops))]

    def _sender(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=4 * self._pool.size, thread_name_prefix="dlib-send"
                )
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        found = self._pool.call(StillRequest(face_crop(image, detection)))
        return _expect(found, Embedding, "embed_still")  # type: ignore[no-any-return]

    @staticmethod
    def _checked(found: object, count: int) -> list[Embedding]:
        if not isinstance(found, list) or len(found) != count:
            raise ModelError(f"dlib worker answered {found!r:.80} for {count} face(s)")
        return found


class PooledDlibPack(ModelPack):
    """The dlib pack whose calls run in ``pool``'s processes; thread-safe without locks (each
    call has a worker to itself). :meth:`close` stops the workers."""

    def __init__(self, pool: WorkerPool, full_scan_every: int = 1) -> None:
        self.pool = pool
        self.remote = RemoteDlibEmbedder(pool)
        super().__init__(
            PACK_NAME, RemoteDlibDetector(pool), self.remote, full_scan_every=full_scan_every
        )

    def embed_shots(self, shots: list[FaceShot]) -> list[Embedding]:
        return self.remote.embed_crops([face_crop(s.frame.image, s.detection) for s in shots])

    def embed_image(self, image: np.ndarray, detection: Detection) -> Embedding:
        return self.remote.embed_crops([face_crop(image, detection)])[0]

    def problem(self) -> str | None:
        return self.pool.problem()

    def close(self) -> None:
        self.remote.close()
        self.pool.close()


def build_pooled_dlib_pack(config: DlibConfig) -> PooledDlibPack:
    """Start ``config.workers`` worker processes, each loading the dlib models (a few seconds;
    ModelError if they cannot load), and return the pack that uses them."""
    factory = functools.partial(make_handler, config)
    return PooledDlibPack(
        WorkerPool("dlib-worker", factory, config.workers), config.full_scan_every
    )
