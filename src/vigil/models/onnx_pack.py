"""The fast model pack: YuNet detector (OpenCV) + an ArcFace-compatible ONNX embedder.

The model files are given by the user (``onnx.detector`` / ``onnx.embedder`` or the environment
variables ``VIGIL_ONNX_DETECTOR`` / ``VIGIL_ONNX_EMBEDDER``); nothing is downloaded.

* Detector: ``cv2.FaceDetectorYN``. Its 5 landmarks come image-left eye first (the subject's
  right eye), then the other eye, nose tip, image-left and image-right mouth corner: that is the
  project's order already (checked on real photos in tests/models/test_onnx_pack.py). Cameras
  scan the whole frame every ``onnx.full_scan_every``-th analysed frame and windows around their
  tracks in between (:meth:`YuNetDetector.detect_near`; :mod:`vigil.pipeline.scanning`).
* Alignment: least-squares similarity onto the ArcFace 5-point template at the embedder's input
  size (112x112 for MobileFaceNet / ArcFace; any other fixed size, square or not, is read from
  the model and the template scaled to it: :func:`vigil.models.alignment.template_for`).
* Embedder: any ArcFace-compatible onnxruntime model, from config alone: input name and size are
  read from the model (1x3xHxW or Nx3xHxW); channel order (``onnx.color_order``) and
  ``(x - input_mean) / input_std`` normalisation (one value or one per channel) come from the
  config; the output (1xD, e.g. 128 for MobileFaceNet, 512 for ArcFace R50/R100) is
  L2-normalised. The README's "Choosing an embedder" says how to pick and calibrate one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.config import OnnxConfig, Settings
from vigil.errors import ModelError
from vigil.models.alignment import warp_to_template
from vigil.models.base import DetectorPool, FaceDetector, FaceEmbedder, ModelPack
from vigil.models.hog_regions import FULL_SCAN_SHARE, regions_around, unique_boxes
from vigil.types import AlignedFace, BBox, Detection, Embedding

PACK_NAME = "onnx"
# Images with a longer side than this are shrunk for YuNet (phone photos): it is trained on
# ~640 px inputs and misses faces that fill a 4000 px photo. Camera frames (<= 1920) are untouched.
MAX_DETECT_SIDE = 1920
# detect_near: each track's box grown by its own size on every side, so that YuNet sees enough
# around the face to place the same landmarks as in a whole-frame scan
NEAR_MARGIN = 1.0
GRID = 32  # YuNet's coarsest stride: windows of a frame start on it (detect_near)

_KEYS = {"detector": "VIGIL_ONNX_DETECTOR", "embedder": "VIGIL_ONNX_EMBEDDER"}
_EXPECTED = {
    "detector": "a YuNet face detector .onnx file (e.g. face_detection_yunet_2023mar.onnx)",
    "embedder": "an ArcFace-compatible embedder .onnx file with one 1x3xHxW (or Nx3xHxW) image "
    "input of fixed H and W >= 32 and one 1xD output (e.g. MobileFaceNet, 1x3x112x112 -> 128)",
}


def _model_error(which: str, path: Path | None, problem: str) -> ModelError:
    where = f"{path}" if path is not None else "(not set)"
    return ModelError(
        f"config 'onnx.{which}' = {where}: {problem}; expected {_EXPECTED[which]}.",
        hint=f"Set onnx.{which} in vigil.yaml or the environment variable {_KEYS[which]} to the "
        "right file, or use model_pack: dlib.",
    )


def _checked_path(which: str, path: Path | None) -> Path:
    if path is None:
        raise _model_error(which, None, "no file given")
    path = Path(path).expanduser()
    if not path.is_file():
        raise _model_error(which, path, "no such file")
    return path


@contextmanager
def _opencv_errors_only() -> Iterator[None]:
    """Hide OpenCV's warnings while a model loads (OpenCV 5 warns that its new graph engine
    ignores the target, on every load): a user sees our errors, not OpenCV's internals."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _check_frame(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(
            f"YuNet: expected a uint8 HxWx3 BGR image, got {getattr(image, 'shape', image)}"
        )


def _moved(detection: Detection, dx: int, dy: int) -> Detection:
    """A detection found in a window whose top-left corner is (dx, dy), in frame coordinates."""
    b = detection.box
    box = BBox(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy)
    landmarks = (detection.landmarks + np.array([dx, dy], np.float32)).astype(np.float32)
    return Detection(box=box, landmarks=landmarks, score=detection.score)


class YuNetDetector(FaceDetector):
    def __init__(self, path: Path, config: OnnxConfig) -> None:
        self._path = path
        with _opencv_errors_only():
            try:
                self._net = cv2.FaceDetectorYN.create(
                    str(path), "", (320, 320), config.score_threshold, config.nms_threshold
                )
            except cv2.error as exc:
                raise _model_error(
                    "detector", path, f"OpenCV cannot load it ({_first_line(exc)})"
                ) from exc
            self._probe()

    def _probe(self) -> None:
        try:
            self._net.setInputSize((64, 64))
            _, faces = self._net.detect(np.zeros((64, 64, 3), np.uint8))
        except cv2.error as exc:
            raise _model_error(
                "detector", self._path, f"it does not run as YuNet ({_first_line(exc)})"
            ) from exc
        if faces is not None and faces.shape[1] < 15:
            raise _model_error(
                "detector", self._path, f"it gives {faces.shape[1]} values per face, not 15"
            )

    def detect_near(self, image: np.ndarray, boxes: Sequence[BBox]) -> list[Detection]:
        """YuNet over windows around ``boxes`` only (``hog_regions.regions_around``, as
        dlib's near scan), its boxes and landmarks moved back to frame coordinates; the whole
        frame when there are no boxes or the windows cover most of it. Each window is scanned at
        the frame's own scale, so its landmarks are those of a whole-frame scan."""
        _check_frame(image)
        h, w = image.shape[:2]
        regions = regions_around(boxes, w, h, NEAR_MARGIN)
        if not regions or sum(r.area for r in regions) >= FULL_SCAN_SHARE * w * h:
            return self.detect(image)
        found: list[Detection] = []
        for r in regions:
            # on YuNet's coarsest grid (stride 32), so that its anchors fall where they do in a
            # whole-frame scan (tests/models/test_yunet_near.py fails off the grid)
            x0, y0 = r.x0 - r.x0 % GRID, r.y0 - r.y0 % GRID
            x1, y1 = min(w, -(-r.x1 // GRID) * GRID), min(h, -(-r.y1 // GRID) * GRID)
            window = np.ascontiguousarray(image[y0:y1, x0:x1])
            found.extend(_moved(d, x0, y0) for d in self.detect(window))
        kept = unique_boxes([(d.box, d.score) for d in found])
        return [found[i] for i in kept]

    def detect(self, image: np.ndarray) -> list[Detection]:
        _check_frame(image)
        h, w = image.shape[:2]
        scale = min(1.0, MAX_DETECT_SIDE / max(h, w))
        work = (
            image
            if scale == 1.0
            else cv2.resize(
                image,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        self._net.setInputSize((work.shape[1], work.shape[0]))
        _, faces = self._net.detect(work)
        if faces is None:
            return []
        found: list[Detection] = []
        for row in faces:
            x, y, fw, fh = (float(v) / scale for v in row[:4])
            box = BBox(x, y, x + max(fw, 1.0), y + max(fh, 1.0))
            landmarks = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            found.append(Detection(box=box, landmarks=landmarks, score=float(row[14])))
        return found


@dataclass(frozen=True, slots=True)
class EmbedderInput:
    name: str
    width: int  # input size in pixels
    height: int
    batched: bool  # the batch dimension is dynamic: several faces go in one run


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


class OnnxEmbedder(FaceEmbedder):
    thread_safe = True  # onnxruntime's InferenceSession.run may be called from many threads

    def __init__(self, path: Path, config: OnnxConfig) -> None:
        # onnxruntime's 1DS telemetry (Linux too, 1.29+) is off only if this is set before it
        # starts; `vigil` sets it too (vigil.runtime.no_call_home), this covers library use.
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise _model_error(
                "embedder", path, f"onnxruntime cannot load it ({_first_line(exc)})"
            ) from exc
        self._input = self._check_input(path)
        self._output = self._session.get_outputs()[0].name
        self._rgb = config.color_order == "rgb"
        self._mean = _per_channel(config.input_mean)
        self._std = _per_channel(config.input_std)
        self.dim = self._probe_dim(path)

    def _check_input(self, path: Path) -> EmbedderInput:
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if inputs else []
        ok = (
            len(inputs) == 1
            and len(shape) == 4
            and shape[1] == 3
            and all(isinstance(side, int) and side >= 32 for side in shape[2:])
        )
        if not ok:
            got = ", ".join(f"{i.name} {i.shape}" for i in inputs) or "no inputs"
            raise _model_error("embedder", path, f"its input is {got}")
        return EmbedderInput(
            inputs[0].name, int(shape[3]), int(shape[2]), not isinstance(shape[0], int)
        )

    def _probe_dim(self, path: Path) -> int:
        blank = np.zeros((1, 3, self._input.height, self._input.width), np.float32)
        try:
            out = self._session.run([self._output], {self._input.name: blank})[0]
        except Exception as exc:
            raise _model_error(
                "embedder", path, f"it fails on a test input ({_first_line(exc)})"
            ) from exc
        out = _rows(np.asarray(out))
        if out.ndim != 2 or out.shape[0] != 1 or out.shape[1] < 16:
            raise _model_error("embedder", path, f"its output has shape {out.shape}, not 1xD")
        return int(out.shape[1])

    def align(self, image: np.ndarray, detection: Detection) -> AlignedFace:
        size = self._input
        return AlignedFace(
            image=warp_to_template(image, detection.landmarks, size.width, size.height)
        )

    def _blob(self, face: AlignedFace) -> np.ndarray:
        w, h = self._input.width, self._input.height
        if face.image.shape != (h, w, 3):
            raise ValueError(
                f"ONNX embedder: expected a {w}x{h} chip (width x height), got {face.image.shape}"
            )
        pixels = face.image[:, :, ::-1] if self._rgb else face.image
        blob = (pixels.astype(np.float32) - self._mean) / self._std
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        if not faces:
            return []
        blobs = [self._blob(face) for face in faces]
        if self._input.batched:
            vectors = self._run(np.concatenate(blobs))
        else:  # a fixed batch of 1 (e.g. the shipped MobileFaceNet): one face per run
            vectors = np.concatenate([self._run(blob) for blob in blobs])
        if vectors.shape != (len(faces), self.dim):
            raise ValueError(
                f"ONNX embedder: expected {len(faces)}x{self.dim} output, got {vectors.shape}"
            )
        return [Embedding.normalised(v, PACK_NAME) for v in vectors]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return _rows(np.asarray(self._session.run([self._output], {self._input.name: batch})[0]))


def _per_channel(value: float | tuple[float, float, float]) -> np.ndarray:
    """A normalisation value (one for all channels, or three) as a float32 array that
    broadcasts over an HxWx3 chip."""
    return np.asarray(value, dtype=np.float32).reshape(-1)[None, None, :]


def _rows(out: np.ndarray) -> np.ndarray:
    """An embedder output as one row per face: NxDx1x1 (some exports) becomes NxD."""
    if out.ndim == 4 and out.shape[2:] == (1, 1):
        return out.reshape(out.shape[0], -1)
    return out


def build_onnx_pack(settings: Settings, *, detector_copies: int = 1) -> ModelPack:
    """Load YuNet + the embedder from the configured paths; ModelError if either is wrong.

    ``detector_copies`` > 1 loads that many YuNet instances in a :class:`DetectorPool` (about
    17 MiB each at 640x360), so that as many cameras can detect at once; the onnxruntime
    embedder session is shared by all calls (it runs concurrently). OpenCV's thread count is
    set for the process to ``onnx.opencv_threads`` (unless 0).
    """
    if detector_copies < 1:
        raise ValueError(f"build_onnx_pack: detector_copies must be >= 1, got {detector_copies}")
    config = settings.onnx
    if config.opencv_threads:
        cv2.setNumThreads(config.opencv_threads)  # process-wide: see onnx.opencv_threads
    path = _checked_path("detector", config.detector)
    copies: list[FaceDetector] = [YuNetDetector(path, config) for _ in range(detector_copies)]
    detector = copies[0] if detector_copies == 1 else DetectorPool(copies)
    embedder = OnnxEmbedder(_checked_path("embedder", config.embedder), config)
    return ModelPack(PACK_NAME, detector, embedder, full_scan_every=config.full_scan_every)
