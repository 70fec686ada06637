#!/usr/bin/env python
"""Alert latency, frame capture -> WebSocket message, over the Hamilton clip, per model pack.

Two clocks per alert, both ending when the "candidate" message reaches the WebSocket client:

* ``first_shot``: from the capture of the track's first frame whose face passed the quality gate
  (the face's first clear appearance; the issue's target: p95 under 300 ms with onnx);
* ``best_shot``: from the capture of the shot the alert was decided on (the earlier clock).

and two modes: ``early`` (the pack's default ``early_margin``, ``dlib.early_margin`` or
``onnx.early_margin``: a clear match alerts from its first gated shot) and ``waiting``
(``early_margin: null``: every track waits for its best shots, the behaviour before early
alerts).

For each pack: a throw-away deployment (SQLite), Lin-Manuel Miranda enrolled from
../shared/data/photos/lin-manuel-miranda.png, one camera on the Hamilton clip, the full server
(uvicorn + Supervisor) on a free port in this process, and a WebSocket client logged in as an
operator. The clip is played ``--passes`` times, each on a fresh camera run, because a
subject seen again soon on the same camera continues the same alert (one alert per passage); each
"candidate" message gives ``time.monotonic()`` at receipt minus the event's
``first_shot_monotonic`` and ``captured_monotonic`` (decode times; same process, same clock).

Both include the embedding, the alert store (sealed crop, audit record) and the socket hand-off;
the first-shot clock also includes any wait for more shots (a borderline face, or the waiting
mode). One JSON line per pack and mode, with the CPU seconds of the run and the load average
(the machine may be shared: state the load next to any figure). Never asserted in tests.

    .venv/bin/python scripts/bench_latency.py --packs onnx --passes 10 --json latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Clock:
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None

    @staticmethod
    def of(values: list[float]) -> Clock:
        return Clock(
            percentile(values, 50),
            percentile(values, 95),
            round(max(values), 1) if values else None,
        )


@dataclass
class LatencyResult:
    pack: str
    mode: str  # early (the pack's early_margin in force) or waiting (early_margin null)
    early_margin: float | None
    seconds: float
    passes: int
    alerts: int
    first_shot: Clock  # first gated shot's capture -> WebSocket message received
    best_shot: Clock  # the alert's own shot's capture -> WebSocket message received
    server_p50_ms: float | None  # best shot's capture -> message handed to the socket
    store_p50_ms: float | None  # best shot's capture -> alert row written (Alert.latency_ms)
    subjects: list[str]  # who was alerted, one per alert


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def seed(context, photo: Path) -> None:
    from vigil.domain.enums import Role
    from vigil.services.authorizations import AuthorizationInput, AuthorizationService
    from vigil.services.enrollment import FacePhotoValidator
    from vigil.services.users import create_user
    from vigil.services.watchlists import WatchlistService
    from vigil.timeutil import utcnow

    create_user(context.db, "bench", Role.operator, "bench-password-123", actor="bench")
    AuthorizationService(context.db).create(
        AuthorizationInput(
            reference="BENCH-1",
            purpose="missing_person",
            legal_basis="benchmark",
            authority="benchmark",
            expires_at=utcnow() + timedelta(days=1),
        ),
        actor="bench",
    )
    lists = WatchlistService(context.db, context.cipher)
    lists.create("bench", "BENCH-1", actor="bench")
    s = context.settings
    validator = FacePhotoValidator.from_settings(context.pack, s)
    face = validator.validate(photo.read_bytes(), photo.name)
    lists.enroll("bench", "Lin-Manuel Miranda", [face], actor="bench")


def listen(url: str, cookie: str, out: list[dict], stop: threading.Event) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url, additional_headers={"Cookie": cookie}, open_timeout=10) as ws:
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return  # the server shut down
            received = time.monotonic()
            data = json.loads(raw)
            if data.get("type") == "alert" and data.get("event") == "candidate":
                data["received_monotonic"] = received
                out.append(data)


def run_pack(pack: str, mode: str, shared: Path, passes: int, max_fps: float) -> LatencyResult:
    """``passes`` plays of the clip, each on a fresh camera run (a new passage, a new alert)."""
    import httpx
    from sqlalchemy import select

    from vigil.cli.server import BackgroundServer, ServeOptions
    from vigil.config import CameraConfig, load_settings
    from vigil.context import build_context
    from vigil.db.models import Alert

    home = Path(tempfile.mkdtemp(prefix=f"vigil-latency-{pack}-"))
    clip = shared / "data" / "video" / "short_hamilton_clip.mp4"
    env = {
        "VIGIL_HOME": str(home),
        "VIGIL_MODEL_PACK": pack,
        "VIGIL_ONNX_DETECTOR": str(shared / "models" / "yunet_2023mar.onnx"),
        "VIGIL_ONNX_EMBEDDER": str(shared / "models" / "mobilefacenet.onnx"),
    }
    waiting = {} if mode == "early" else {pack: {"early_margin": None}}
    settings = load_settings(
        env,
        server={"secret_key": secrets.token_urlsafe(48), "secure_cookies": False},
        **waiting,
    )
    context = build_context(settings)
    seed(context, shared / "data" / "photos" / "lin-manuel-miranda.png")
    options = ServeOptions("127.0.0.1", free_port(), log_level="warning")
    server = BackgroundServer(settings, options, context=context).start(cameras=False)
    camera = CameraConfig(name="hamilton", url=str(clip), max_fps=max_fps)
    events: list[dict] = []
    stop = threading.Event()
    started = time.monotonic()
    try:
        with httpx.Client(base_url=server.url) as client:
            r = client.post(
                "/api/auth/login", json={"username": "bench", "password": "bench-password-123"}
            )
            r.raise_for_status()
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        ws_url = server.url.replace("http", "ws") + "/ws/alerts"
        listener = threading.Thread(target=listen, args=(ws_url, cookie, events, stop), daemon=True)
        listener.start()
        time.sleep(1.0)  # subscribed before the first frame
        for _ in range(passes):
            server.supervisor.start_camera(camera).wait(120)
            time.sleep(0.5)  # the last socket messages
        with context.db.read() as s:
            stored = [a.latency_ms for a in s.scalars(select(Alert)) if a.latency_ms is not None]
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    best = [(e["received_monotonic"] - e["captured_monotonic"]) * 1000 for e in events]
    first = [
        (e["received_monotonic"] - e["first_shot_monotonic"]) * 1000
        for e in events
        if e.get("first_shot_monotonic")
    ]
    sent = [(e["sent_monotonic"] - e["captured_monotonic"]) * 1000 for e in events]
    return LatencyResult(
        pack=pack,
        mode=mode,
        early_margin=getattr(settings, pack).early_margin,
        seconds=round(time.monotonic() - started, 1),
        passes=passes,
        alerts=len(best),
        first_shot=Clock.of(first),
        best_shot=Clock.of(best),
        server_p50_ms=percentile(sent, 50),
        store_p50_ms=round(statistics.median(stored), 1) if stored else None,
        subjects=[e["alert"]["subject_name"] for e in events],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packs", nargs="+", default=["dlib", "onnx"], choices=["dlib", "onnx"])
    parser.add_argument("--passes", type=int, default=10, help="plays of the clip per pack")
    parser.add_argument(
        "--modes", nargs="+", default=["early", "waiting"], choices=["early", "waiting"]
    )
    parser.add_argument("--max-fps", type=float, default=5.0, help="camera max_fps")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    for pack in args.packs:
        for mode in args.modes:
            cpu = time.process_time()
            result = run_pack(pack, mode, args.shared, args.passes, args.max_fps)
            row = asdict(result) | {"cpu_seconds": round(time.process_time() - cpu, 1)}
            row["load_average"] = [round(x, 2) for x in os.getloadavg()]
            row["cpus"] = os.cpu_count()
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
