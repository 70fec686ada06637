"""The default model pack, installed from PyPI: dlib HOG detector, 5-point landmarks, ResNet.

* Detector: ``dlib.get_frontal_face_detector()`` with ``settings.dlib.upsample`` pyramid steps.
* Landmarks: dlib's 5-point shape predictor, converted to the project's order by
  :func:`vigil.models.alignment.landmarks_from_dlib5` (mouth corners are estimated).
* Embedder: ``dlib.get_face_chip`` (150x150, padding 0.25) from the raw 5 dlib parts, then the
  128-d ResNet descriptor, L2-normalised so that cosine similarity is a dot product.

``align`` recomputes the 5 dlib parts from the detection box (0.4 ms): a Detection holds only the
converted landmarks, and this way a box from any source gives the chip dlib was trained on.
dlib wants RGB; frames are BGR. The dlib objects are not thread-safe: use one pack per thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vigil.config import Settings
from vigil.errors import ModelError
from vigil.models.alignment import landmarks_from_dlib5
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.types import AlignedFace, BBox, Detection, Embedding

PACK_NAME = "dlib"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True, slots=True)
class DlibModelFiles:
    """Where the PyPI package ``face_recognition_models`` keeps dlib's weights."""

    shape_predictor: Path
    recognition: Path


def find_model_files() -> DlibModelFiles:
    try:
        import face_recognition_models as frm
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ModelError(
            f"the dlib pack needs the Python package face_recognition_models ({exc}).",
            hint="Install it with `pip install face_recognition_models 'setuptools<81'`, "
            "or set model_pack: onnx.",
        ) from exc
    files = DlibModelFiles(
        Path(frm.pose_predictor_five_point_model_location()),
        Path(frm.face_recognition_model_location()),
    )
    for path in (files.shape_predictor, files.recognition):
        if not path.is_file():
            raise ModelError(
                f"dlib model file {path} is missing.",
                hint="Reinstall face_recognition_models (`pip install --force-reinstall "
                "face_recognition_models`).",
            )
    return files


def _import_dlib() -> ModuleType:
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ModelError(
            f"the dlib pack needs the Python package dlib-bin ({exc}).",
            hint="Install it with `pip install dlib-bin`, or set model_pack: onnx.",
        ) from exc
    return dlib


def _rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        raise ValueError(f"dlib pack: expected a uint8 HxWx3 BGR image, got {got}")
    return np.ascontiguousarray(image[:, :, ::-1])


class DlibShapes:
    """Runs the 5-point shape predictor on a box; shared by detector and embedder."""

    def __init__(self, dlib_module: ModuleType, predictor_path: Path) -> None:
        self._dlib = dlib_module
        self._predictor = dlib_module.shape_predictor(str(predictor_path))

    def rectangle(self, box: BBox) -> Any:
        return self._dlib.rectangle(
            round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1
        )

    def shape(self, rgb: np.ndarray, box: BBox) -> Any:
        return self._predictor(rgb, self.rectangle(box))

    @staticmethod
    def points(shape: Any) -> np.ndarray:
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


class DlibDetector(FaceDetector):
    def __init__(self, dlib_module: ModuleType, shapes: DlibShapes, upsample: int) -> None:
        self._detector = dlib_module.get_frontal_face_detector()
        self._shapes = shapes
        self._upsample = upsample

    def detect(self, image: np.ndarray) -> list[Detection]:
        rgb = _rgb(image)
        rects, scores, _ = self._detector.run(rgb, self._upsample, 0.0)
        found: list[Detection] = []
        for rect, score in zip(rects, scores, strict=True):
            box = BBox(
                float(rect.left()), float(rect.top()), rect.right() + 1.0, rect.bottom() + 1.0
            )
            points = self._shapes.points(self._shapes.shape(rgb, box))
            found.append(
                Detection(box=box, landmarks=landmarks_from_dlib5(points), score=float(score))
            )
        return found


class DlibEmbedder(FaceEmbedder):
    dim = 128

    def __init__(
        self, dlib_module: ModuleType, shapes: DlibShapes, recognition: Path, jitters: int
    ) -> None:
        self._dlib = dlib_module
        self._shapes = shapes
        self._net = dlib_module.face_recognition_model_v1(str(recognition))
        self._jitters = jitters

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        rgb = _rgb(image)
        shape = self._shapes.shape(rgb, detection.box)
        chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return AlignedFace(image=np.ascontiguousarray(np.asarray(chip)[:, :, ::-1]))

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        out: list[Embedding] = []
        for face in faces:
            if face.image.shape != (CHIP_SIZE, CHIP_SIZE, 3):
                raise ValueError(
                    f"dlib embedder: expected a {CHIP_SIZE}x{CHIP_SIZE} chip from its own align(), "
                    f"got {face.image.shape}"
                )
            chip = np.ascontiguousarray(face.image[:, :, ::-1])
            vector = np.asarray(self._net.compute_face_descriptor(chip, self._jitters))
            out.append(Embedding.normalised(vector, PACK_NAME))
        return out


def build_dlib_pack(settings: Settings) -> ModelPack:
    """Load the dlib pack (a second or two). Raises ModelError if the weights are missing."""
    dlib = _import_dlib()
    files = find_model_files()
    try:
        shapes = DlibShapes(dlib, files.shape_predictor)
        detector = DlibDetector(dlib, shapes, settings.dlib.upsample)
        embedder = DlibEmbedder(dlib, shapes, files.recognition, settings.dlib.num_jitters)
    except RuntimeError as exc:
        raise ModelError(
            f"dlib could not load its model files ({exc}).",
            hint="Reinstall face_recognition_models (`pip install --force-reinstall "
            "face_recognition_models`).",
        ) from exc
    return ModelPack(PACK_NAME, detector, embedder, settings.dlib.threshold)
