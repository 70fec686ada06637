#!/usr/bin/env python
"""Memory (RSS) and CPU of `vigil serve` with N cameras looping the Hamilton clip.

Builds a throw-away deployment (`vigil init`, then Lin-Manuel Miranda enrolled so matching runs),
puts N file cameras on the clip into vigil.yaml, starts `vigil serve --loop-files` as a real
process and samples /proc/<pid> every few seconds: resident memory and CPU time (user+system, all
threads; 100% = one core), summed over the server and its child processes (the dlib pack's model
workers, ``dlib.workers``; pages they share are counted in each). Camera fps and drops come from
GET /api/cameras at the end. The load average at the start and the end is recorded too: on a
shared machine fps follows the load, while RSS barely does. All cameras of the process share one
model pack (vigil.runtime.supervisor);
``--packs-per-camera`` loads one per camera instead (what Vigil did before), for comparison.
Figures only, never asserted in tests.

    .venv/bin/python scripts/bench_serve.py --cameras 4 --minutes 5 --pack onnx
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vigil.bench.proc import tree_usage

ROOT = Path(__file__).resolve().parents[1]
VIGIL = Path(sys.executable).with_name("vigil")


# `vigil serve` with the supervisor's shared pack replaced by one new pack per camera.
PER_CAMERA_SERVE = (
    "import sys; from vigil.models.registry import create_pack; "
    "from vigil.runtime.supervisor import Supervisor; "
    "Supervisor._shared_pack = lambda self: create_pack(self.context.settings, detector_copies=1); "
    "from vigil.cli.main import run; sys.argv[0] = 'vigil'; run()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(home: Path, env: dict[str, str], shared: Path, cameras: int, max_fps: float) -> None:
    subprocess.run([str(VIGIL), "init", "--plain-http"], env=env, check=True, capture_output=True)
    clip = shared / "data" / "video" / "short_hamilton_clip.mp4"
    config_path = home / "vigil.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["cameras"] = [
        {"name": f"cam{i + 1}", "url": str(clip), "max_fps": max_fps} for i in range(cameras)
    ]
    config_path.write_text(yaml.safe_dump(config))
    from vigil.config import load_settings

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_latency import seed

    from vigil.context import build_context

    context = build_context(load_settings(env))
    try:
        seed(context, shared / "data" / "photos" / "lin-manuel-miranda.png")
    finally:
        context.close()


def login(port: int):  # -> httpx.Client, logged in (imported late, like the rest of Vigil's)
    import httpx

    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    r = client.post("/api/auth/login", json={"username": "bench", "password": "bench-password-123"})
    r.raise_for_status()
    return client


def camera_stats(client) -> tuple[float, list[dict]]:
    """Every camera's counters and the monotonic time they were read at (the middle of the
    request), so that the window between two reads does not include a login."""
    before = time.monotonic()
    cameras = client.get("/api/cameras").json()
    at = (before + time.monotonic()) / 2
    return at, [
        {
            "name": c["name"],
            **{
                k: c["status"][k]
                for k in ("state", "fps_in", "fps_analysed", "frames_analysed", "drops")
            },
        }
        for c in cameras
        if c.get("status")
    ]


def alert_count(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "vigil.db") as db:
        return int(db.execute("select count(*) from alerts").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--pack", choices=["dlib", "onnx"], default="onnx")
    parser.add_argument("--max-fps", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=5.0, help="sampling period, seconds")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary deployment (log)")
    parser.add_argument(
        "--packs-per-camera", action="store_true", help="one model pack per camera (the old way)"
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="vigil-serve-bench-"))
    env = {
        **os.environ,
        "VIGIL_HOME": str(home),
        "VIGIL_MODEL_PACK": args.pack,
        "VIGIL_ONNX_DETECTOR": str(args.shared / "models" / "yunet_2023mar.onnx"),
        "VIGIL_ONNX_EMBEDDER": str(args.shared / "models" / "mobilefacenet.onnx"),
    }
    prepare(home, env, args.shared, args.cameras, args.max_fps)
    port = free_port()
    log = open(home / "serve.log", "w")  # noqa: SIM115 - closed below
    serve = [sys.executable, "-c", PER_CAMERA_SERVE] if args.packs_per_camera else [str(VIGIL)]
    proc = subprocess.Popen(
        [*serve, "serve", "--loop-files", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    samples: list[tuple[float, float, float]] = []
    load_start = os.getloadavg()[0]
    try:
        time.sleep(10)  # startup (model loading) is not the steady state
        client = login(port)
        start = time.monotonic()
        _, cpu0 = tree_usage(proc.pid)
        read_at, first_stats = camera_stats(client)
        first = {c["name"]: c for c in first_stats}
        while time.monotonic() - start < args.minutes * 60 and proc.poll() is None:
            time.sleep(args.every)
            rss, cpu = tree_usage(proc.pid)
            samples.append((time.monotonic() - start, rss, cpu))
        end_at, stats = camera_stats(client)
        window = end_at - read_at
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    elapsed = samples[-1][0]
    rss = [s[1] for s in samples]
    result = {
        "pack": args.pack,
        "packs": "per camera" if args.packs_per_camera else "shared",
        "cameras": args.cameras,
        "max_fps": args.max_fps,
        "measured_seconds": round(elapsed, 1),
        "rss_mib_start": round(rss[0], 1),
        "rss_mib_end": round(rss[-1], 1),
        "rss_mib_max": round(max(rss), 1),
        "cpu_percent_mean": round(100 * (samples[-1][2] - cpu0) / elapsed, 1),
        "cpu_cores": os.cpu_count(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "cameras_status": stats,
        # frames analysed and dropped per camera over the measured window (not the 5 s moving
        # average of fps_analysed, and without the startup)
        "window_seconds": round(window, 1),
        "window_fps_analysed": [
            round((c["frames_analysed"] - first[c["name"]]["frames_analysed"]) / window, 2)
            for c in stats
            if c["name"] in first
        ],
        "window_drops": [
            c["drops"] - first[c["name"]]["drops"] for c in stats if c["name"] in first
        ],
        "exit_code": code,
        "clean_stop": "Vigil stopped" in (home / "serve.log").read_text(),
        "alerts_stored": alert_count(home),
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
