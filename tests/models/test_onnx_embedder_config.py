"""Any ArcFace-compatible ONNX embedder from config alone: input size read from the model, its
own normalisation and channel order from config, 512-d output, matched by the gallery.

The embedder is a small network the test writes with ``onnx.helper`` (1x1 conv, flatten, matmul
to 512 values), so its output can be recomputed with numpy and every config value checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import OnnxConfig, load_settings
from vigil.errors import ModelError
from vigil.faces.gallery import GallerySnapshot, NumpyIndex
from vigil.models.alignment import ARCFACE_TEMPLATE, template_for
from vigil.models.onnx_pack import OnnxEmbedder
from vigil.models.registry import create_pack
from vigil.pipeline.matcher import Matcher
from vigil.types import AlignedFace, BBox, Detection, Embedding, GalleryEntry

onnx = pytest.importorskip("onnx")
helper = onnx.helper

DIM = 512
MIX = 1  # channels after the 1x1 conv (small: the matmul holds MIX*H*W*512 weights)


def _write_model(
    path: Path, height: int, width: int, *, batch: int | str = 1, out_4d: bool = False
) -> tuple:
    """Write a 1x1 conv (MIX x 3) + bias, flatten, (MIX*H*W) x 512 matmul; return the weights."""
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(MIX, 3, 1, 1)).astype(np.float32)
    bias = rng.normal(size=MIX).astype(np.float32)
    dense = (rng.normal(size=(MIX * height * width, DIM)) / 50).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["data", "conv_w", "conv_b"], ["mixed"]),
        helper.make_node("Flatten", ["mixed"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "dense"], ["rows" if out_4d else "embedding"]),
    ]
    out_shape = [batch, DIM, 1, 1] if out_4d else [batch, DIM]
    if out_4d:  # some exports give Nx512x1x1
        nodes.append(helper.make_node("Unsqueeze", ["rows", "axes"], ["embedding"]))
    inits = [
        onnx.numpy_helper.from_array(conv, "conv_w"),
        onnx.numpy_helper.from_array(bias, "conv_b"),
        onnx.numpy_helper.from_array(dense, "dense"),
        onnx.numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [helper.make_tensor_value_info("data", onnx.TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime this project supports
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return conv, bias, dense


def _expected(chip: np.ndarray, weights: tuple, config: OnnxConfig) -> np.ndarray:
    """The network by hand: normalise as configured, conv 1x1, flatten, matmul, L2-normalise."""
    conv, bias, dense = weights
    pixels = chip[:, :, ::-1] if config.color_order == "rgb" else chip
    mean = np.asarray(config.input_mean, np.float32).reshape(-1)
    std = np.asarray(config.input_std, np.float32).reshape(-1)
    x = ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    mixed = np.einsum("oc,chw->ohw", conv[:, :, 0, 0], x) + bias[:, None, None]
    out = mixed.reshape(-1) @ dense
    return out / np.linalg.norm(out)


def _face_image() -> tuple[np.ndarray, Detection]:
    """A textured 200x240 image and a detection whose landmarks are the template, moved."""
    rng = np.random.default_rng(7)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (240, 200, 3), dtype=np.uint8), (0, 0), 2.0)
    ramp = np.linspace(0.0, 1.0, 200, dtype=np.float32)[None, :, None]
    tint = np.array([0.2, 0.6, 1.0], np.float32)[None, None, :]  # a blue-red colour ramp
    image = (noise * (ramp * tint + (1 - ramp) * tint[:, :, ::-1])).astype(np.uint8)
    landmarks = (ARCFACE_TEMPLATE * 1.3 + np.array([30.0, 40.0], np.float32)).astype(np.float32)
    return image, Detection(BBox(30, 40, 180, 200), landmarks, 0.95)


# (height, width, color_order, mean, std): unusual sizes, per-channel and scalar normalisation
CASES = [
    (64, 64, "rgb", 127.5, 127.5),
    (72, 56, "bgr", (104.0, 117.0, 123.0), (58.0, 57.0, 57.5)),
    (80, 64, "rgb", 0.0, 255.0),
]


@pytest.mark.parametrize(("height", "width", "order", "mean", "std"), CASES)
def test_a_512d_embedder_runs_from_config_alone(
    tmp_path: Path, height: int, width: int, order: str, mean: object, std: object
) -> None:
    path = tmp_path / "tiny.onnx"
    weights = _write_model(path, height, width)
    config = OnnxConfig(embedder=path, color_order=order, input_mean=mean, input_std=std)
    embedder = OnnxEmbedder(path, config)
    assert embedder.dim == DIM
    image, detection = _face_image()
    chip = embedder.align(image, detection)
    assert chip.image.shape == (height, width, 3)
    (embedding,) = embedder.embed([chip])
    assert embedding.vector.shape == (DIM,)
    assert float(np.linalg.norm(embedding.vector)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(embedding.vector, _expected(chip.image, weights, config), atol=2e-5)
    other_order = config.model_copy(update={"color_order": "rgb" if order == "bgr" else "bgr"})
    other_mean = config.model_copy(update={"input_mean": 10.0})
    for wrong in (other_order, other_mean):  # the config decides: a different one gives another
        far = np.abs(embedding.vector - _expected(chip.image, weights, wrong)).max()
        assert far > 1e-3


def test_an_nxdx1x1_output_is_read_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "four_d.onnx"
    weights = _write_model(path, 64, 64, out_4d=True)
    embedder = OnnxEmbedder(path, OnnxConfig())
    image, detection = _face_image()
    chip = embedder.align(image, detection)
    assert embedder.dim == DIM
    expected = _expected(chip.image, weights, OnnxConfig())
    np.testing.assert_allclose(embedder.embed([chip])[0].vector, expected, atol=2e-5)


def test_a_batched_embedder_embeds_several_faces_at_once(tmp_path: Path) -> None:
    path = tmp_path / "batched.onnx"
    _write_model(path, 64, 64, batch="N")
    embedder = OnnxEmbedder(path, OnnxConfig())
    image, detection = _face_image()
    chip = embedder.align(image, detection)
    mirrored = AlignedFace(image=np.ascontiguousarray(chip.image[:, ::-1]))
    first, second = embedder.embed([chip, mirrored])
    assert first.vector.shape == second.vector.shape == (DIM,)
    assert float(first.vector @ second.vector) < 0.999
    np.testing.assert_allclose(embedder.embed([chip])[0].vector, first.vector, atol=1e-5)


@pytest.mark.parametrize(
    ("height", "width", "problem"),
    [(16, 16, "input is"), (112, 20, "input is")],
)
def test_an_input_too_small_is_refused(
    tmp_path: Path, height: int, width: int, problem: str
) -> None:
    path = tmp_path / "small.onnx"
    _write_model(path, height, width)
    with pytest.raises(ModelError, match=problem):
        OnnxEmbedder(path, OnnxConfig())


@pytest.mark.parametrize(
    ("field", "value"),
    [("input_std", 0.0), ("input_std", (1.0, 0.0, 1.0)), ("input_mean", 300.0), ("input_mean", -1)],
)
def test_normalisation_out_of_bounds_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        OnnxConfig(**{field: value})


@pytest.mark.parametrize(("width", "height", "shift"), [(112, 112, 0.0), (96, 112, -8.0)])
def test_template_scales_with_height_and_centres_across(
    width: int, height: int, shift: float
) -> None:
    template = template_for(width, height)
    np.testing.assert_allclose(template[:, 0], ARCFACE_TEMPLATE[:, 0] + shift, atol=1e-4)
    np.testing.assert_allclose(template[:, 1], ARCFACE_TEMPLATE[:, 1], atol=1e-4)


def _entry(template_id: int) -> GalleryEntry:
    now = datetime.now(UTC)
    return GalleryEntry(
        template_id, template_id, f"subject {template_id}", 1, "list", 1, "REF-1",
        now - timedelta(days=1), now + timedelta(days=1), None,
    )  # fmt: skip


class _Fixed:
    def __init__(self, snapshot: GallerySnapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> GallerySnapshot:
        return self._snapshot


@pytest.mark.slow
def test_the_pack_from_config_embeds_a_real_face_and_the_matcher_accepts_512d(
    tmp_path: Path, onnx_models: tuple[Path, Path], photos: Path
) -> None:
    path = tmp_path / "tiny.onnx"
    _write_model(path, 72, 56)
    settings = load_settings(
        {
            "VIGIL_HOME": str(tmp_path),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": str(onnx_models[0]),
            "VIGIL_ONNX_EMBEDDER": str(path),
            "VIGIL_ONNX_COLOR_ORDER": "bgr",
            "VIGIL_ONNX_INPUT_MEAN": "[104, 117, 123]",
        }
    )
    pack = create_pack(settings, detector_copies=1)
    image = cv2.imread(str(photos / "obama.jpg"))
    (detection,) = pack.detect(image)
    probe = pack.embed_still(image, detection)
    assert probe.vector.shape == (DIM,) and pack.embedder.dim == DIM
    others = [
        Embedding.normalised(np.random.default_rng(i).normal(size=DIM), "onnx") for i in (1, 2)
    ]
    index = NumpyIndex()
    index.build(np.stack([others[0].vector, probe.vector, others[1].vector]))
    snapshot = GallerySnapshot(tuple(_entry(i) for i in (1, 2, 3)), index, 0.9, "onnx")
    (match,) = Matcher(_Fixed(snapshot), top_k=3).match([probe], "cam", datetime.now(UTC))
    assert match.entry.template_id == 2 and match.score == pytest.approx(1.0, abs=1e-5)
