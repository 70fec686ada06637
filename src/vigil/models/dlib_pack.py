"""The default model pack, installed from PyPI: dlib HOG detector, 5-point landmarks, ResNet.

* Detector: ``dlib.get_frontal_face_detector()`` with ``settings.dlib.upsample`` pyramid steps;
  cameras scan the whole frame only every ``dlib.full_scan_every``-th analysed frame and windows
  around their tracks in between (``detect_near``, :mod:`vigil.models.hog_regions`).
* Landmarks: dlib's 68-point (default) or 5-point shape predictor (``dlib.landmarks``), converted
  to the project's order by :func:`vigil.models.alignment.landmarks_from_dlib68` or
  :func:`~vigil.models.alignment.landmarks_from_dlib5`.
* Embedder: ``dlib.get_face_chip`` (150x150, padding 0.25) from the raw dlib parts, then the
  128-d ResNet descriptor, L2-normalised so that cosine similarity is a dot product. The ResNet
  was published with the 68-point model (the 5-point one came later); on LFW the 68-point chips
  scored 0.15 points higher here (see the README's accuracy section).
* Still photos: ``detect_thorough`` runs dlib's CNN (mmod) detector where HOG found nothing, and
  ``embed_still`` averages 8 chips (68 + 5 points x cut, mirrored, +-3 degrees; ``dlib.still_*``).
  Video never takes either path.

``align`` recomputes the dlib parts from the detection box (about 1 ms): a Detection holds only the
converted landmarks, and this way a box from any source gives the chip dlib was trained on.
dlib wants RGB; frames are BGR. The dlib objects are not thread-safe: the in-process pack
(``dlib.workers: 0``) takes a lock per component, and holds the GIL while dlib works. By default
the models run in worker processes instead (:mod:`vigil.models.dlib_remote`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from vigil.config import DlibConfig, Settings
from vigil.errors import ModelError
from vigil.models.alignment import landmarks_from_dlib5, landmarks_from_dlib68
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack
from vigil.models.hog_regions import ScoredBox, detect_near
from vigil.types import AlignedFace, BBox, Detection, Embedding

PACK_NAME = "dlib"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
CNN_MAX_SIDE = 640  # the CNN detector runs on a copy no larger than this (it is slow and greedy)
CNN_UPSAMPLE_BELOW = 400  # ... and upsamples once when the copy is smaller than this


@dataclass(frozen=True, slots=True)
class DlibModelFiles:
    """Where the PyPI package ``face_recognition_models`` keeps dlib's weights."""

    shape_predictor: Path  # 5 points
    shape_predictor_68: Path
    recognition: Path
    cnn_detector: Path


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
        Path(frm.pose_predictor_model_location()),
        Path(frm.face_recognition_model_location()),
        Path(frm.cnn_face_detector_model_location()),
    )
    for path in (
        files.shape_predictor,
        files.shape_predictor_68,
        files.recognition,
        files.cnn_detector,
    ):
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


def check_bgr(image: np.ndarray) -> None:
    """ValueError unless ``image`` is a uint8 HxWx3 array (what every dlib call here takes)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        raise ValueError(f"dlib pack: expected a uint8 HxWx3 BGR image, got {got}")


def _rgb(image: np.ndarray) -> np.ndarray:
    check_bgr(image)
    return np.ascontiguousarray(image[:, :, ::-1])


class DlibShapes:
    """Runs the 5- or 68-point shape predictor on a box; shared by detector and embedder."""

    def __init__(self, dlib_module: ModuleType, predictor_path: Path, points: int = 5) -> None:
        if points not in (5, 68):
            raise ValueError(f"DlibShapes: expected a 5- or 68-point predictor, got {points}")
        self._dlib = dlib_module
        self._predictor = dlib_module.shape_predictor(str(predictor_path))
        self.count = points

    def rectangle(self, box: BBox) -> Any:
        return self._dlib.rectangle(
            round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1
        )

    def shape(self, rgb: np.ndarray, box: BBox) -> Any:
        shape = self._predictor(rgb, self.rectangle(box))
        if shape.num_parts != self.count:
            raise ModelError(
                f"the dlib shape predictor gave {shape.num_parts} points, expected {self.count}.",
                hint="Set dlib.landmarks to match the predictor file, or reinstall "
                "face_recognition_models.",
            )
        return shape

    @staticmethod
    def points(shape: Any) -> np.ndarray:
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def landmarks(self, shape: Any) -> np.ndarray:
        """The project's five landmarks from a dlib shape."""
        points = self.points(shape)
        return landmarks_from_dlib68(points) if self.count == 68 else landmarks_from_dlib5(points)


class DlibDetector(FaceDetector):
    def __init__(
        self,
        dlib_module: ModuleType,
        shapes: DlibShapes,
        upsample: int,
        cnn_path: Path | None = None,
        video_gray: bool = False,
    ) -> None:
        self._dlib = dlib_module
        self._detector = dlib_module.get_frontal_face_detector()
        self._shapes = shapes
        self._upsample = upsample
        self._cnn_path = cnn_path
        self._video_gray = video_gray
        self._cnn: Any = None  # loaded on first use: most deployments never need it

    def detect(self, image: np.ndarray) -> list[Detection]:
        rgb = _rgb(image)
        return [self._landmarked(rgb, hit) for hit in self._hog(rgb)]

    def detect_frame(self, image: np.ndarray) -> list[Detection]:
        """A video frame: HOG on its grey copy with ``video_gray`` (about a third less time
        than on colour), the landmarks on colour as in :meth:`detect`."""
        rgb = _rgb(image)
        return [self._landmarked(rgb, hit) for hit in self._hog(self._video_input(image, rgb))]

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        """HOG over windows around ``boxes`` only (:func:`vigil.models.hog_regions.detect_near`,
        same upsampling and input as :meth:`detect_frame`); the landmarks come from the whole
        frame, as there."""
        rgb = _rgb(image)
        scanned = self._video_input(image, rgb)
        return [self._landmarked(rgb, hit) for hit in detect_near(self._hog, scanned, boxes)]

    def _video_input(self, image: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if self._video_gray else rgb

    def _hog(self, rgb: np.ndarray) -> list[ScoredBox]:
        """The HOG detector's hits in ``rgb`` (a frame or a window of one)."""
        rects, scores, _ = self._detector.run(rgb, self._upsample, 0.0)
        return [
            ScoredBox(
                BBox(float(r.left()), float(r.top()), r.right() + 1.0, r.bottom() + 1.0), float(s)
            )
            for r, s in zip(rects, scores, strict=True)
        ]

    def _landmarked(self, rgb: np.ndarray, hit: ScoredBox) -> Detection:
        landmarks = self._shapes.landmarks(self._shapes.shape(rgb, hit.box))
        return Detection(box=hit.box, landmarks=landmarks, score=float(hit.score))

    def detect_thorough(self, image: np.ndarray) -> list[Detection]:
        """dlib's CNN (mmod) detector on a copy at most CNN_MAX_SIDE px long; [] if disabled."""
        if self._cnn_path is None:
            return []
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(str(self._cnn_path))
        rgb = _rgb(image)
        h, w = rgb.shape[:2]
        scale = min(1.0, CNN_MAX_SIDE / max(h, w))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)))
        upsample = 1 if max(small.shape[:2]) < CNN_UPSAMPLE_BELOW else 0
        found: list[Detection] = []
        for hit in self._cnn(np.ascontiguousarray(small), upsample):
            r = hit.rect
            rect = self._dlib.rectangle(
                round(r.left() / scale),
                round(r.top() / scale),
                round((r.right() + 1) / scale) - 1,
                round((r.bottom() + 1) / scale) - 1,
            )
            found.append(self._detection(rgb, rect, float(hit.confidence)))
        return found

    def _detection(self, rgb: np.ndarray, rect: Any, score: float) -> Detection:
        box = BBox(float(rect.left()), float(rect.top()), rect.right() + 1.0, rect.bottom() + 1.0)
        return self._landmarked(rgb, ScoredBox(box, score))


@dataclass(frozen=True, slots=True)
class StillOptions:
    """How a still photo is embedded: the mean descriptor over a small set of chips.

    The set holds, for the pack's landmark model and (``extra_shapes``) the other one of 5 / 68
    points: the aligned chip, its mirror image (``mirror``) and copies turned in-plane by each of
    ``rotations`` degrees about the face centre. ``jitters`` > 0 replaces each chip's descriptor
    by dlib's mean over that many randomly shifted, scaled and mirrored copies.
    """

    jitters: int = 0
    mirror: bool = False
    extra_shapes: DlibShapes | None = None
    rotations: tuple[float, ...] = ()


class DlibEmbedder(FaceEmbedder):
    dim = 128

    def __init__(
        self,
        dlib_module: ModuleType,
        shapes: DlibShapes,
        recognition: Path,
        jitters: int,
        still: StillOptions | None = None,
    ) -> None:
        self._dlib = dlib_module
        self._shapes = shapes
        self._net = dlib_module.face_recognition_model_v1(str(recognition))
        self._jitters = jitters
        self._still = still or StillOptions()

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        return self._chips(_rgb(image), detection, self._shapes, ())[0]

    def _chips(
        self, rgb: np.ndarray, detection: Detection, shapes: DlibShapes, turns: tuple[float, ...]
    ) -> list[AlignedFace]:
        """The chip dlib.get_face_chip gives, then one per extra rotation (degrees)."""
        shape = shapes.shape(rgb, detection.box)
        details = self._dlib.get_face_chip_details(shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        wanted = [details] + [
            self._dlib.chip_details(
                details.rect,
                self._dlib.chip_dims(CHIP_SIZE, CHIP_SIZE),
                details.angle + math.radians(turn),
            )
            for turn in turns
        ]
        return [
            AlignedFace(
                image=np.ascontiguousarray(
                    np.asarray(self._dlib.extract_image_chip(rgb, d))[:, :, ::-1]
                )
            )
            for d in wanted
        ]

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        return [Embedding.normalised(self._descriptor(f, self._jitters), PACK_NAME) for f in faces]

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        total = np.zeros(self.dim, dtype=np.float64)
        for chip in self.still_chips(image, detection):
            vector = self._descriptor(chip, self._still.jitters)
            total += vector / max(float(np.linalg.norm(vector)), 1e-12)
        return Embedding.normalised(total, PACK_NAME)

    def still_chips(self, image: np.ndarray, detection: Detection) -> list[AlignedFace]:
        """Per landmark model: the aligned chip, its mirror image, then the turned copies.

        Each perturbation is applied to the aligned chip alone, not combined (no mirrored
        turned chips): 68+5 points x (chip, mirror, +3, -3 degrees) is 8 ResNet passes.
        """
        rgb = _rgb(image)
        options = self._still
        models = (
            [self._shapes] if options.extra_shapes is None else [self._shapes, options.extra_shapes]
        )
        chips: list[AlignedFace] = []
        for shapes in models:
            base, *turned = self._chips(rgb, detection, shapes, options.rotations)
            chips.append(base)
            if options.mirror:
                chips.append(AlignedFace(image=np.ascontiguousarray(base.image[:, ::-1])))
            chips += turned
        return chips

    def _descriptor(self, face: AlignedFace, jitters: int) -> np.ndarray:
        if face.image.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(
                f"dlib embedder: expected a {CHIP_SIZE}x{CHIP_SIZE} chip from its own align(), "
                f"got {face.image.shape}"
            )
        chip = np.ascontiguousarray(face.image[:, :, ::-1])
        return np.asarray(self._net.compute_face_descriptor(chip, jitters), dtype=np.float64)


def build_dlib_detector(settings: Settings) -> DlibDetector:
    """dlib's HOG detector (with the CNN one for ``detect_thorough``) alone: the second opinion
    on enrollment photos for the ONNX pack (see :mod:`vigil.models.likeness`)."""
    dlib = _import_dlib()
    files = find_model_files()
    cfg = settings.dlib
    predictors = {5: files.shape_predictor, 68: files.shape_predictor_68}
    try:
        shapes = DlibShapes(dlib, predictors[cfg.landmarks], cfg.landmarks)
    except RuntimeError as exc:
        raise ModelError(
            f"dlib could not load its model files ({exc}).",
            hint="Reinstall face_recognition_models (`pip install --force-reinstall "
            "face_recognition_models`).",
        ) from exc
    return DlibDetector(dlib, shapes, cfg.upsample, files.cnn_detector, cfg.video_gray)


def build_dlib_pack(settings: Settings) -> ModelPack:
    """Load the dlib pack in this process (a second or two). Raises ModelError if the weights
    are missing. :func:`vigil.models.registry.create_pack` runs it in ``dlib.workers`` worker
    processes instead (:mod:`vigil.models.dlib_remote`) unless that is 0."""
    return build_local_dlib_pack(settings.dlib)


def build_local_dlib_pack(cfg: DlibConfig) -> ModelPack:
    """The dlib pack in this process (what each worker process of the pooled pack runs)."""
    dlib = _import_dlib()
    files = find_model_files()
    try:
        predictors = {5: files.shape_predictor, 68: files.shape_predictor_68}
        shapes = DlibShapes(dlib, predictors[cfg.landmarks], cfg.landmarks)
        other = 5 if cfg.landmarks == 68 else 68
        still = StillOptions(
            jitters=cfg.still_jitters,
            mirror=cfg.still_mirror,
            extra_shapes=DlibShapes(dlib, predictors[other], other)
            if cfg.still_both_landmarks
            else None,
            rotations=tuple(cfg.still_rotations),
        )
        cnn = files.cnn_detector if cfg.cnn_fallback else None
        detector = DlibDetector(dlib, shapes, cfg.upsample, cnn, cfg.video_gray)
        embedder = DlibEmbedder(dlib, shapes, files.recognition, cfg.num_jitters, still)
    except RuntimeError as exc:
        raise ModelError(
            f"dlib could not load its model files ({exc}).",
            hint="Reinstall face_recognition_models (`pip install --force-reinstall "
            "face_recognition_models`).",
        ) from exc
    return ModelPack(PACK_NAME, detector, embedder, full_scan_every=cfg.full_scan_every)
