"""Enrollment decisions of both model packs on the shared photos (issue 12, points 3 and 4).

    VIGIL_SHARED=../shared python scripts/bench_enrollment.py sizes --json out.json
    VIGIL_SHARED=../shared python scripts/bench_enrollment.py likeness

``sizes``: every human photo in ``shared/data/photos`` at its own size and shrunk so that its
largest face (dlib HOG box width) is 30, 36 and 42 px wide, around the default ``min_face_px``
of 36. For each photo the enrollment decision (accepted, or the rejection reason) of each pack;
prints how many decisions differ between the packs. The photo is validated by
:class:`vigil.services.enrollment.FacePhotoValidator` exactly as the product does, except that
the final embedding is skipped (it decides nothing). Run it with ``PYTHONPATH`` on an older
checkout to get that checkout's figures: it uses no API newer than the validator.

``likeness``: the decision of each pack on the non-faces (``nonfaces/*`` and scikit-image's
cat) and on every human photo; every non-face must be refused, every human photo accepted.
``--lfw-every N`` adds every N-th LFW photo (sorted by path; even positions were used to choose
the settings, odd ones are held out, and the two halves are counted apart).

Figures depend on the machine only for the timings, which this script does not print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vigil.config import load_settings
from vigil.errors import EnrollmentRejected
from vigil.models.base import ModelPack
from vigil.models.registry import create_pack
from vigil.services.enrollment import FacePhotoValidator
from vigil.types import Detection, Embedding

SHRINK_TO_BOX_PX = (30, 36, 42)
PACKS = ("dlib", "onnx")


class _DecideOnly(ModelPack):
    """The pack, but the still-photo embedding (which decides nothing) is skipped."""

    def __init__(self, pack: ModelPack) -> None:
        super().__init__(pack.name, pack.detector, pack.embedder)

    def embed_still(self, image: np.ndarray, detection: Detection) -> Embedding:
        return Embedding.normalised(np.ones(8, np.float32), self.name)


def _shared() -> Path:
    return Path(os.environ.get("VIGIL_SHARED") or Path(__file__).resolve().parents[2] / "shared")


def _validators(shared: Path, home: Path) -> dict[str, FacePhotoValidator]:
    models = shared / "models"
    settings = load_settings(
        {
            "VIGIL_HOME": str(home),
            "VIGIL_ONNX_DETECTOR": str(models / "yunet_2023mar.onnx"),
            "VIGIL_ONNX_EMBEDDER": str(models / "mobilefacenet.onnx"),
        }
    )
    out = {}
    for name in PACKS:
        pack = _DecideOnly(create_pack(settings, name, detector_copies=1))
        out[name] = FacePhotoValidator.from_settings(pack, settings)
    return out


def _decision(validator: FacePhotoValidator, data: bytes, name: str) -> str:
    try:
        validator.validate(data, name)
    except EnrollmentRejected as exc:
        return exc.reason
    return "accepted"


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def human_photos(shared: Path) -> list[Path]:
    photos = shared / "data" / "photos"
    return sorted(
        p
        for p in photos.rglob("*")
        if p.is_file() and "nonfaces" not in p.relative_to(photos).parts
    )


def nonface_images(shared: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted((shared / "data" / "photos" / "nonfaces").glob("*.jpg")):
        yield path.name, path.read_bytes()
    import skimage.data  # dev/test extra only

    yield "skimage_chelsea.jpg", _jpeg(np.ascontiguousarray(skimage.data.chelsea()[:, :, ::-1]))


def _size_variants(path: Path, dlib_box: float) -> Iterator[tuple[str, bytes]]:
    yield path.name, path.read_bytes()
    image = cv2.imread(str(path))
    if image is None or dlib_box <= 0:
        return
    for target in SHRINK_TO_BOX_PX:
        f = target / dlib_box
        if f >= 1.0:
            continue
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        yield f"{path.stem}@{target}px.jpg", _jpeg(small)


def _largest_dlib_box(validator: FacePhotoValidator, path: Path) -> float:
    image = cv2.imread(str(path))
    if image is None:
        return 0.0
    found = validator._detect(image)
    return max((d.box.width for d in found), default=0.0)


def run_sizes(shared: Path, validators: dict[str, FacePhotoValidator]) -> list[dict[str, str]]:
    rows = []
    for path in human_photos(shared):
        box = _largest_dlib_box(validators["dlib"], path)
        for name, data in _size_variants(path, box):
            row = {"photo": name} | {p: _decision(validators[p], data, name) for p in PACKS}
            print(f"{name:45s} " + "  ".join(f"{p}={row[p]}" for p in PACKS), file=sys.stderr)
            rows.append(row)
    return rows


def lfw_sample(shared: Path, every: int) -> Iterator[tuple[str, bytes]]:
    if every <= 0:
        return
    paths = sorted((shared / "data" / "lfw" / "lfw-deepfunneled").rglob("*.jpg"))[::every]
    for i, path in enumerate(paths):
        yield f"human:lfw-{'tune' if i % 2 == 0 else 'holdout'}:{path.name}", path.read_bytes()


def run_likeness(
    shared: Path, validators: dict[str, FacePhotoValidator], lfw_every: int = 0
) -> list[dict[str, str]]:
    rows = []
    items = [(f"nonface:{n}", d) for n, d in nonface_images(shared)]
    items += [(f"human:{p.name}", p.read_bytes()) for p in human_photos(shared)]
    items += list(lfw_sample(shared, lfw_every))
    for name, data in items:
        row = {"photo": name} | {p: _decision(validators[p], data, name) for p in PACKS}
        print(f"{name:45s} " + "  ".join(f"{p}={row[p]}" for p in PACKS), file=sys.stderr)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["sizes", "likeness"])
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--lfw-every", type=int, default=0, help="likeness: every N-th LFW photo")
    args = parser.parse_args()
    shared = _shared()
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "vigil-bench-enrollment"
    home.mkdir(parents=True, exist_ok=True)
    validators = _validators(shared, home)
    if args.what == "sizes":
        rows = run_sizes(shared, validators)
    else:
        rows = run_likeness(shared, validators, args.lfw_every)
    differ = [r for r in rows if r["dlib"] != r["onnx"]]
    print(f"{len(rows)} photos, the packs decide differently for {len(differ)}")
    if args.what == "likeness":
        for pack in PACKS:
            wrong_nonfaces = [
                r["photo"]
                for r in rows
                if r["photo"].startswith("nonface:") and r[pack] == "accepted"
            ]
            refused_humans = [
                f"{r['photo']}={r[pack]}"
                for r in rows
                if r["photo"].startswith("human:") and r[pack] != "accepted"
            ]
            print(
                f"{pack}: non-faces accepted {wrong_nonfaces}; "
                f"human photos refused {refused_humans}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
