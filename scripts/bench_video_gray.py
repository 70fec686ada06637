#!/usr/bin/env python
"""dlib's video detector on the grey frame (``dlib.video_gray``, the default) against colour.

Two figures, printed as JSON (figures only, never asserted in tests):

* **Detection on CCTV-like probes.** LFW photos of the open-set reporting half
  (:mod:`vigil.evaluation.openset`), each shrunk to a face of 32, 48 and 64 px, blurred and saved
  as JPEG 40 exactly as ``vigil bench openset --cctv`` does (:func:`vigil.bench.openset.cctv_like`),
  then ``detect_frame`` with each setting: how many probes have a face found at the centre, and
  how many only one setting finds.
* **Time.** CPU milliseconds per whole-frame scan on frames of the Hamilton clip, each setting.

    .venv/bin/python scripts/bench_video_gray.py --probes 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vigil.bench.openset import _landmarks_of, cctv_like  # noqa: E402
from vigil.config import DlibConfig  # noqa: E402
from vigil.evaluation.lfw import _pick, _read  # noqa: E402
from vigil.evaluation.openset import design_half, lfw_identities  # noqa: E402
from vigil.models.dlib_pack import build_local_dlib_pack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=600)
    parser.add_argument("--sizes", default="32,48,64")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    args = parser.parse_args()
    images = args.shared / "data" / "lfw" / "lfw-deepfunneled"
    design = design_half(
        lfw_identities(images), "report", gallery_size=1000, mated_per_id=1, nonmated=1000
    )
    keys = sorted(set(design.mated) | set(design.nonmated))[: args.probes]
    grey = build_local_dlib_pack(DlibConfig(video_gray=True))
    colour = build_local_dlib_pack(DlibConfig(video_gray=False))
    sizes = [int(s) for s in args.sizes.split(",")]
    found = {s: {"grey": 0, "colour": 0, "both": 0} for s in sizes}
    for key in keys:
        image = _read(images / key)
        marks = _landmarks_of(colour, image)
        for size in sizes:
            probe = cctv_like(image, marks.reshape(-1, 2), size)
            h, w = probe.shape[:2]
            g = _pick(grey.detect_frame(probe), w, h) is not None
            c = _pick(colour.detect_frame(probe), w, h) is not None
            found[size]["grey"] += g
            found[size]["colour"] += c
            found[size]["both"] += g and c
    frames = []
    with av.open(str(args.shared / "data" / "video" / "short_hamilton_clip.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 10 == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
    timing = {}
    for name, pack in (("grey", grey), ("colour", colour)):
        pack.detect_frame(frames[0])
        started = time.process_time()
        faces = sum(len(pack.detect_frame(f)) for f in frames)
        timing[name] = {
            "ms_per_frame": round(1000 * (time.process_time() - started) / len(frames), 1),
            "faces": faces,
        }
    result = {
        "probes": len(keys),
        "found_at_centre": {str(s): v for s, v in found.items()},
        "clip_frames": len(frames),
        "clip_frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "whole_frame_scan": timing,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
