#!/usr/bin/env python
"""Latency of the alert list (``GET /api/alerts``) under load, with cameras running.

Builds a throw-away deployment (`vigil init --plain-http`, Lin-Manuel Miranda enrolled, K file
cameras looping the Hamilton clip in vigil.yaml ``cameras:`` so the camera source policy trusts
them), seeds N candidate alerts through :class:`~vigil.services.alerts.AlertStore` (sealed crop,
audit record: the real write path, not the network), creates C operators and one API token per
operator through :class:`~vigil.services.users.UserService` (minted by its owner; no logins, which
are throttled per source), then starts `vigil serve --loop-files` as a real process.

For ``--seconds`` D, C client threads (httpx, one connection each, Bearer token) run a closed
loop (``--think`` seconds between requests, 0 = back to back):

- the first 2 clients are reviewers: they list the alerts awaiting review
  (``status=candidate``/``pending_second``) and confirm one (or, one time in four, reject it with
  a reason), so reviews write while the list reads;
- the other C-2 clients request ``GET /api/alerts?limit=50`` (70%), the next page with
  ``before_id`` (20%) and ``limit=500`` (10%).

Printed at the end: one JSON object with p50/p95/p99/max latency (ms) per request kind, requests/s,
status codes and errors, the server's CPU (user+system over the window; 100% = one core) and peak
RSS sampled from /proc, camera fps from GET /api/cameras, and the 1-minute load average before
and after. The client threads run on the same machine and take CPU too. Figures only, never
asserted in tests.

    .venv/bin/python scripts/bench_api.py --cameras 4 --clients 20 --seconds 60 --alerts 500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VIGIL = Path(sys.executable).with_name("vigil")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PASSWORD = "bench-api-Passw0rd-7391"
REVIEWERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_sample(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds user+system) of the process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return rss_pages * PAGE / 2**20, cpu


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


# -- the deployment -------------------------------------------------------------------------------


def face_crop_jpeg(photo: Path) -> bytes:
    """A realistic stored crop: the enrolled photo at the masked crop's size (JPEG q90)."""
    import cv2

    from vigil.imaging import encode_jpeg

    return encode_jpeg(cv2.resize(cv2.imread(str(photo)), (160, 200)))


def seed_alerts(context, count: int, cameras: int, crop: bytes) -> None:
    """``count`` candidate alerts through the real store (sealed crop, audit record each)."""
    from vigil.services.alerts import AlertBus, AlertStore
    from vigil.services.gallery import ActiveGallery
    from vigil.timeutil import utcnow
    from vigil.types import CandidateAlert, Match

    s = context.settings
    entry = ActiveGallery(context.db, context.cipher, s, s.model_pack).refresh().entries[0]
    store = AlertStore(context.db, context.cipher, s, AlertBus())
    for i in range(count):
        now = utcnow()
        store.save(
            CandidateAlert(
                camera=f"cam{i % max(cameras, 1) + 1}",
                first_seen=now,
                last_seen=now + timedelta(seconds=2),
                match=Match(entry=entry, score=0.8),
                crop_jpeg=crop,
                captured_monotonic=time.monotonic(),
            )
        )


def make_clients(context, clients: int) -> list[str]:
    """C operators, each with an API token minted by its owner; returns the tokens."""
    from vigil.domain.enums import Role
    from vigil.services.users import UserService, create_user

    users = UserService(context.db, context.settings.server)
    tokens = []
    for i in range(clients):
        name = f"rev{i + 1}" if i < REVIEWERS else f"client{i + 1}"
        user, _ = create_user(context.db, name, Role.operator, PASSWORD, actor="bench")
        _, token = users.create_token(user.id, "bench", actor=name)
        tokens.append(token)
    return tokens


def prepare(home: Path, env: dict[str, str], args: argparse.Namespace) -> list[str]:
    subprocess.run([str(VIGIL), "init", "--plain-http"], env=env, check=True, capture_output=True)
    clip = args.shared / "data" / "video" / "short_hamilton_clip.mp4"
    config_path = home / "vigil.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["cameras"] = [
        {"name": f"cam{i + 1}", "url": str(clip), "max_fps": args.max_fps}
        for i in range(args.cameras)
    ]
    config_path.write_text(yaml.safe_dump(config))
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_latency import seed

    from vigil.config import load_settings
    from vigil.context import build_context

    context = build_context(load_settings(env))
    try:
        photo = args.shared / "data" / "photos" / "lin-manuel-miranda.png"
        seed(context, photo)
        seed_alerts(context, args.alerts, args.cameras, face_crop_jpeg(photo))
        return make_clients(context, args.clients)
    finally:
        context.close()


# -- the load -------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (ms) and status codes per request kind, shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, ms: float, status: str) -> None:
        with self.lock:
            self.latencies[kind].append(ms)
            self.statuses[kind][status] += 1


def timed(client, tally: Tally, kind: str, method: str, url: str, **kw):
    """One request, timed; returns the response or None on a transport error."""
    import httpx

    start = time.perf_counter()
    try:
        r = client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        tally.add(kind, (time.perf_counter() - start) * 1000, type(exc).__name__)
        with tally.lock:
            tally.errors.append(f"{kind}: {exc!r}"[:200])
        return None
    tally.add(kind, (time.perf_counter() - start) * 1000, str(r.status_code))
    return r


def reader(client, tally: Tally, stop: threading.Event, think: float, rng: random.Random) -> None:
    oldest: int | None = None
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.1:
            timed(client, tally, "list_500", "GET", "/api/alerts", params={"limit": 500})
        elif roll < 0.3 and oldest is not None:
            r = timed(
                client,
                tally,
                "page_50",
                "GET",
                "/api/alerts",
                params={"limit": 50, "before_id": oldest},
            )
            page = r.json() if r is not None and r.status_code == 200 else []
            oldest = page[-1]["id"] if page else None
        else:
            r = timed(client, tally, "list_50", "GET", "/api/alerts", params={"limit": 50})
            page = r.json() if r is not None and r.status_code == 200 else []
            oldest = page[-1]["id"] if page else None
        stop.wait(think)


def reviewer(
    client, tally: Tally, stop: threading.Event, think: float, rng: random.Random, me: str
) -> None:
    while not stop.is_set():
        status = rng.choice(["candidate", "pending_second"])
        r = timed(
            client,
            tally,
            "review_list",
            "GET",
            "/api/alerts",
            params={"limit": 50, "status": status},
        )
        page = r.json() if r is not None and r.status_code == 200 else []
        mine = [a for a in page if all(v["username"] != me for v in a["reviews"])]
        if mine:
            alert = rng.choice(mine)
            body = (
                {"decision": "reject", "reason": "not the person (benchmark)"}
                if rng.random() < 0.25
                else {"decision": "confirm", "reason": ""}
            )
            timed(
                client,
                tally,
                "review_post",
                "POST",
                f"/api/alerts/{alert['id']}/reviews",
                json=body,
            )
        stop.wait(max(think, 0.5))  # "some alerts": a human-like pace, about 2 decisions/s


def run_load(url: str, tokens: list[str], seconds: float, think: float) -> tuple[Tally, float]:
    import httpx

    tally = Tally()
    stop = threading.Event()
    threads = []
    for i, token in enumerate(tokens):
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        rng = random.Random(i)
        if i < REVIEWERS:
            target, extra = reviewer, (f"rev{i + 1}",)
        else:
            target, extra = reader, ()
        threads.append(
            (
                threading.Thread(
                    target=target, args=(client, tally, stop, think, rng, *extra), daemon=True
                ),
                client,
            )
        )
    start = time.monotonic()
    for thread, _ in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread, client in threads:
        thread.join(60)
        client.close()
    return tally, time.monotonic() - start


def camera_stats(url: str, token: str) -> list[dict]:
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        return [
            {
                "name": c["name"],
                **{
                    k: c["status"][k]
                    for k in ("state", "fps_in", "fps_analysed", "frames_analysed", "drops")
                },
            }
            for c in client.get("/api/cameras", timeout=10).json()
            if c.get("status")
        ]


def wait_ready(url: str, proc: subprocess.Popen, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vigil serve exited with {proc.returncode}; see its log")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"vigil serve did not answer within {seconds} s")


def stop_server(proc: subprocess.Popen, seconds: float = 120) -> int | str:
    """SIGTERM, then SIGKILL if it has not stopped within ``seconds`` (a loaded machine can make
    the cameras slow to stop): the figures already gathered are still printed."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        return f"killed: not stopped {seconds:.0f} s after SIGTERM"


class Sampler(threading.Thread):
    """Peak RSS and CPU time of the server, from /proc every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.stop = threading.Event()
        self.peak_rss = 0.0

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                rss, _ = proc_sample(self.pid)
            except OSError:
                return
            self.peak_rss = max(self.peak_rss, rss)


def summarize(tally: Tally, elapsed: float) -> dict[str, dict]:
    out = {}
    for kind in sorted(tally.latencies):
        values = tally.latencies[kind]
        out[kind] = {
            "requests": len(values),
            "per_second": round(len(values) / elapsed, 1),
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "p99_ms": percentile(values, 99),
            "max_ms": round(max(values), 1),
            "status": dict(tally.statuses[kind]),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--clients", type=int, default=20, help="API clients, 2 of them reviewers")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--alerts", type=int, default=500, help="alerts seeded before the run")
    parser.add_argument("--think", type=float, default=0.0, help="seconds between requests")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after startup")
    parser.add_argument("--pack", choices=["dlib", "onnx"], default="onnx")
    parser.add_argument("--max-fps", type=float, default=5.0)
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary deployment (log)")
    args = parser.parse_args()
    if args.clients < REVIEWERS + 1:
        parser.error(f"--clients must be at least {REVIEWERS + 1} (2 reviewers and a reader)")

    home = Path(tempfile.mkdtemp(prefix="vigil-api-bench-"))
    env = {
        **os.environ,
        "VIGIL_HOME": str(home),
        "VIGIL_MODEL_PACK": args.pack,
        "VIGIL_ONNX_DETECTOR": str(args.shared / "models" / "yunet_2023mar.onnx"),
        "VIGIL_ONNX_EMBEDDER": str(args.shared / "models" / "mobilefacenet.onnx"),
    }
    seed_start = time.monotonic()
    tokens = prepare(home, env, args)
    seed_seconds = time.monotonic() - seed_start
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(VIGIL), "serve", "--loop-files", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_ready(url, proc, 120)
        time.sleep(args.warmup)  # model loading and camera start are not the steady state
        load_before = os.getloadavg()
        _, cpu0 = proc_sample(proc.pid)
        sampler = Sampler(proc.pid)
        sampler.start()
        tally, elapsed = run_load(url, tokens, args.seconds, args.think)
        _, cpu1 = proc_sample(proc.pid)
        sampler.stop.set()
        load_after = os.getloadavg()
        cameras = camera_stats(url, tokens[-1])
    finally:
        code = stop_server(proc)
        log.close()
    kinds = summarize(tally, elapsed)
    reads = [v for k in ("list_50", "page_50", "list_500") for v in tally.latencies.get(k, [])]
    total = sum(len(v) for v in tally.latencies.values())
    failed = sum(
        n
        for statuses in tally.statuses.values()
        for status, n in statuses.items()
        if not status.startswith("2") and status != "409"
    )
    result = {
        "cameras": args.cameras,
        "clients": args.clients,
        "reviewers": REVIEWERS,
        "think_seconds": args.think,
        "alerts_seeded": args.alerts,
        "seed_seconds": round(seed_seconds, 1),
        "pack": args.pack,
        "max_fps": args.max_fps,
        "measured_seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1),
        "errors": failed,
        "error_samples": tally.errors[:5],
        "alert_list_all_kinds": {
            "p50_ms": percentile(reads, 50),
            "p95_ms": percentile(reads, 95),
            "p99_ms": percentile(reads, 99),
            "max_ms": round(max(reads), 1) if reads else None,
        },
        "kinds": kinds,
        "server_cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "server_peak_rss_mib": round(sampler.peak_rss, 1),
        "cpu_cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cameras_status": cameras,
        "exit_code": code,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"deployment kept in {home}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
