"""The one interface every model pack implements.

A pack detects faces (box + 5 landmarks + score), aligns a face for its embedder and embeds it.

Video and still photos take different paths where a pack can do better with more time:

* ``detect`` runs on every analysed frame; ``detect_thorough`` is a slower second try for a still
  photo in which ``detect`` found nothing (dlib: the CNN detector). Packs without one return [].
* ``embed`` embeds track shots; ``embed_still`` embeds one still photo (enrollment, LFW) and may
  spend more time on it (dlib: the mean over 8 chips).
There are deliberately no attribute outputs: no age, gender, ethnicity, emotion or any other
demographic estimate exists in this interface or any implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from vigil.types import AlignedFace, Detection, Embedding, FaceShot


class FaceDetector(ABC):
    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in a BGR uint8 image."""

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        """A slower search of a still photo where ``detect`` found nothing; [] if none exists."""
        return []


class FaceEmbedder(ABC):
    dim: int

    @abstractmethod
    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        """Cut and align one face from a BGR image for this embedder."""

    @abstractmethod
    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        """Embed aligned faces; returns unit-length vectors in the same order."""

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed one face of a still photo; packs may spend more time here than in ``embed``."""
        return self.embed([self.align(image, detection)])[0]


class ModelPack:
    """A detector and an embedder that belong together, plus the pack's name and threshold."""

    def __init__(self, name: str, detector: FaceDetector, embedder: FaceEmbedder, threshold: float):
        self.name = name
        self.detector = detector
        self.embedder = embedder
        self.threshold = threshold

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detector.detect(image)

    def embed_shots(self, shots: list[FaceShot]) -> list[Embedding]:
        faces = [self.embedder.align(s.frame.image, s.detection) for s in shots]
        return self.embedder.embed(faces)

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        return self.detector.detect_thorough(image)

    def embed_image(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed one face of a video frame (same path as track shots)."""
        return self.embedder.embed([self.embedder.align(image, detection)])[0]

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        """Embed the face of a still photo (enrollment, benchmarks)."""
        return self.embedder.embed_still(image, detection)
