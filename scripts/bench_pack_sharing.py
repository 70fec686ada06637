#!/usr/bin/env python
"""How cameras of one process should share a model pack: analysed frames/s and peak RSS.

Each run is a fresh child process (so its peak RSS is its own) with ``--threads`` camera-like
threads, each looping over the Hamilton clip's frames at 5 fps of video time and running the
pack's detection and the embedding of every face found (the per-frame model work of a camera).
Modes:

* ``per-thread``  one pack per thread (what the supervisor did before: N cameras, N packs);
* ``shared``      one thread-safe pack for all threads (a lock per component that needs one);
* ``pool:K``      K packs, each thread borrowing any free one per call.

Modes run interleaved (A B C A B C ...) so that load from other processes hits them alike.
Figures only, never asserted in tests.

    .venv/bin/python scripts/bench_pack_sharing.py --threads 4 8 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _frames(shared: Path) -> list:
    from vigil.sources.offline import iter_file_frames

    clip = shared / "data" / "video" / "short_hamilton_clip.mp4"
    return [f.image for f in iter_file_frames(clip, "bench", 5.0)]


class _Pool:
    """K packs; a call borrows any free one."""

    def __init__(self, packs: list) -> None:
        self._free: queue.Queue = queue.Queue()
        for pack in packs:
            self._free.put(pack)

    @contextmanager
    def borrow(self) -> Iterator:
        pack = self._free.get()
        try:
            yield pack
        finally:
            self._free.put(pack)


def _borrowers(mode: str, threads: int, build: Callable[[], object]) -> list[Callable]:
    if mode == "per-thread":
        packs = [build() for _ in range(threads)]
        return [(lambda p=p: _fixed(p)) for p in packs]
    if mode == "shared":
        pack = build()
        return [lambda: _fixed(pack)] * threads
    size = int(mode.split(":", 1)[1])
    pool = _Pool([build() for _ in range(size)])
    return [pool.borrow] * threads


@contextmanager
def _fixed(pack: object) -> Iterator:
    yield pack


def child(args: argparse.Namespace) -> None:
    from vigil.config import Settings
    from vigil.models.registry import create_pack

    settings = Settings(
        model_pack=args.pack,
        onnx={
            "detector": args.shared / "models" / "yunet_2023mar.onnx",
            "embedder": args.shared / "models" / "mobilefacenet.onnx",
        },
    )
    images = _frames(args.shared)
    borrowers = _borrowers(args.mode, args.threads, lambda: create_pack(settings))
    stop = threading.Event()
    counts = [0] * args.threads

    def camera(i: int) -> None:
        k = i * 7  # cameras at different points of the clip
        while not stop.is_set():
            image = images[k % len(images)]
            with borrowers[i]() as pack:
                found = pack.detect(image)
            for det in found:
                with borrowers[i]() as pack:
                    pack.embed_image(image, det)
            counts[i] += 1
            k += 1

    workers = [threading.Thread(target=camera, args=(i,), daemon=True) for i in range(args.threads)]
    cpu0 = time.process_time()
    for w in workers:
        w.start()
    time.sleep(args.seconds)
    stop.set()
    for w in workers:
        w.join()
    cpu = time.process_time() - cpu0
    print(
        json.dumps(
            {
                "mode": args.mode,
                "threads": args.threads,
                "fps_total": round(sum(counts) / args.seconds, 1),
                "fps_per_camera": round(sum(counts) / args.seconds / args.threads, 2),
                "cpu_percent": round(100 * cpu / args.seconds, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "load": os.getloadavg()[0],
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--modes", nargs="+", default=["per-thread", "shared", "pool:2"])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pack", choices=["dlib", "onnx"], default="onnx")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        args.threads = args.threads[0]
        child(args)
        return 0
    for _ in range(args.rounds):
        for threads in args.threads:
            for mode in args.modes:
                command = [sys.executable, __file__, "--mode", mode, "--threads", str(threads)]
                command += ["--seconds", str(args.seconds), "--pack", args.pack]
                command += ["--shared", str(args.shared)]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
