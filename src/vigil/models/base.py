"""The one interface every model pack implements.

A pack detects faces (box + 5 landmarks + score), aligns a face for its embedder and embeds it.

Video and still photos take different paths where a pack can do better with more time:

* ``detect`` scans a whole still photo; ``detect_frame`` a whole video frame (the same as
  ``detect`` unless the pack scans video more cheaply: dlib's HOG on the grey frame,
  ``dlib.video_gray``); ``detect_near`` only the parts of a frame around given boxes (a
  camera's tracks), where the detector can do that more cheaply (dlib's HOG,
  :mod:`vigil.models.hog_regions`; others scan the whole frame). A camera calls
  ``detect_frame`` every ``ModelPack.full_scan_every``-th analysed frame and ``detect_near`` between
  (:mod:`vigil.pipeline.scanning`). ``detect_thorough`` is a slower second try for a still
  photo in which ``detect`` found nothing (dlib: the CNN detector). Packs without one return [].
* ``embed`` embeds track shots; ``embed_still`` embeds one still photo (enrollment, LFW) and may
  spend more time on it (dlib: the mean over 8 chips).
One pack serves every camera of a process and the web's enrollment validator at once, so
:class:`ModelPack` is thread-safe: a detector or embedder that is not (``thread_safe = False``,
the default) is called under its own lock. YuNet keeps per-call state (``setInputSize``) and
dlib's networks keep per-call buffers, so both take the lock; onnxruntime sessions run
concurrently by design, so the ONNX embedder does not. The lock is per component, so one camera
can embed while another detects. :class:`DetectorPool` holds K copies of a detector that is not
thread-safe, so that K cameras can detect at once (the ONNX pack uses 2 by default, see
:mod:`vigil.models.registry`).

There are deliberately no attribute outputs: no age, gender, ethnicity, emotion or any other
demographic estimate exists in this interface or any implementation.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

import numpy as np

from vigil.types import AlignedFace, BBox, Detection, Embedding, FaceShot


class FaceDetector(ABC):
    thread_safe: bool = False  # True only if concurrent calls from several threads are safe

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in a BGR uint8 image."""

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        """A slower search of a still photo where ``detect`` found nothing; [] if none exists."""
        return []

    def detect_frame(self, image: np.ndarray) -> list[Detection]:
        """Faces in a whole video frame. Packs that can scan video more cheaply than a still
        photo (dlib's HOG on the grey frame, ``dlib.video_gray``) do so here; the default is
        :meth:`detect`."""
        return self.detect(image)

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        """Faces near ``boxes`` (the current tracks), in image coordinates. Packs that cannot
        scan part of a frame more cheaply (the default) scan the whole frame."""
        return self.detect(image)


class DetectorPool(FaceDetector):
    """K copies of one detector; each call borrows a free copy (waiting if all are busy).

    Thread-safe although its copies are not: a copy is only ever used by one thread at a time.
    """

    thread_safe = True

    def __init__(self, copies: list[FaceDetector]) -> None:
        if not copies:
            raise ValueError("DetectorPool: expected at least one detector, got none")
        self.size = len(copies)
        self._free: queue.SimpleQueue[FaceDetector] = queue.SimpleQueue()
        for copy in copies:
            self._free.put(copy)

    @contextmanager
    def _borrowed(self) -> Iterator[FaceDetector]:
        detector = self._free.get()
        try:
            yield detector
        finally:
            self._free.put(detector)

    def detect(self, image: np.ndarray) -> list[Detection]:
        with self._borrowed() as detector:
            return detector.detect(image)

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        with self._borrowed() as detector:
            return detector.detect_thorough(image)

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        with self._borrowed() as detector:
            return detector.detect_near(image, boxes)

    def detect_frame(self, image: np.ndarray) -> list[Detection]:
        with self._borrowed() as detector:
            return detector.detect_frame(image)


class FaceEmbedder(ABC):
    dim: int
    thread_safe: bool = False  # True only if concurrent calls from several threads are safe

    @abstractmethod
    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        """Cut and align one face from a BGR image for this embedder."""

    @abstractmethod
    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        """Embed aligned faces; returns unit-length vectors in the same order."""

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed one face of a still photo; packs may spend more time here than in ``embed``."""
        return self.embed([self.align(image, detection)])[0]


def _guard(thread_safe: bool) -> AbstractContextManager[object]:
    return nullcontext() if thread_safe else threading.Lock()


class ModelPack:
    """A detector and an embedder that belong together, and the pack's name.

    The match threshold is not the pack's: it is decided in one place,
    :mod:`vigil.accountability.threshold` (calibrated value in force, else the configured one).

    Thread-safe (see the module note): share one per process. Call the pack's methods, not
    ``detector`` / ``embedder`` directly, from code that may run on several threads.
    """

    def __init__(
        self,
        name: str,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        *,
        full_scan_every: int = 1,
    ) -> None:
        if full_scan_every < 1:
            raise ValueError(
                f"ModelPack: full_scan_every must be at least 1, got {full_scan_every}"
            )
        self.name = name
        # cameras detect over the whole frame every Nth analysed frame, near their tracks
        # in between (:meth:`detect_near`); 1 = always the whole frame
        self.full_scan_every = full_scan_every
        self.detector = detector
        self.embedder = embedder
        self._detecting = _guard(detector.thread_safe)
        self._embedding = _guard(embedder.thread_safe)

    def detect(self, image: np.ndarray) -> list[Detection]:
        with self._detecting:
            return self.detector.detect(image)

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        """Faces near ``boxes`` only, where the detector can do that more cheaply (see
        :mod:`vigil.models.hog_regions`); a whole-frame detection otherwise."""
        with self._detecting:
            return self.detector.detect_near(image, boxes)

    def detect_frame(self, image: np.ndarray) -> list[Detection]:
        """Faces in a whole video frame (cameras' whole-frame scans, the CCTV-like probes of
        ``vigil bench openset``); still photos use :meth:`detect`."""
        with self._detecting:
            return self.detector.detect_frame(image)

    def embed_shots(self, shots: list[FaceShot]) -> list[Embedding]:
        with self._embedding:
            faces = [self.embedder.align(s.frame.image, s.detection) for s in shots]
            return self.embedder.embed(faces)

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        with self._detecting:
            return self.detector.detect_thorough(image)

    def embed_image(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed one face of a video frame (same path as track shots)."""
        with self._embedding:
            return self.embedder.embed([self.embedder.align(image, detection)])[0]

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed the face of a still photo (enrollment, benchmarks)."""
        with self._embedding:
            return self.embedder.embed_still(image, detection)

    def problem(self) -> str | None:
        """Something wrong with the pack that cameras should show (e.g. a model worker process
        that died and was restarted); None when all is well."""
        return None

    def close(self) -> None:
        """Release what the pack holds beyond memory (worker processes); idempotent."""
