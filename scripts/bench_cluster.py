#!/usr/bin/env python
"""Cameras on a Ray cluster against local threads, on one machine; prints the figures as JSON.

In one run, on a throw-away deployment (``--pack``: onnx or dlib; Lin-Manuel Miranda enrolled), with
``--cameras`` cameras looping the Hamilton clip at the 5 fps cap (real-time playback):

* ``local``: the cameras as threads of this process (today's Supervisor) for ``--seconds``;
* ``ray``: the same cameras as actors on a local cluster (head without CPUs + 2 worker nodes on
  127.0.0.1, each with a CPU slot per camera, at least 8, so one node can take every camera
  after the other is lost), for ``--seconds``; ``ratio`` = analysed fps ray / local, and how
  many cameras held >= 4.5 fps each way;
* Ray's own cost per node: CPU (% of one core) and RSS of Ray's processes (GCS, raylets,
  agents, idle workers; not the camera actors), idle before the cameras start;
* ``node_loss_to_running_s``: a worker node running a camera is removed; time until all its
  cameras report frames again from the other node;
* ``revocation_to_zero_s``: the authorization is revoked as the web API does (the purge of his
  alerts is announced on the engine's alert bus, which publishes the smaller gallery at once;
  with no alert to purge the periodic check does, ``alerts_purged`` says which); time until
  every actor holds an empty gallery (no match possible);
* ``matches_after_zero``: candidates and sighting updates the command center received (stored
  or refused by its authority check) in a 12 s watch once every actor held the empty gallery;
  ``raised_after_zero``: matches the actors themselves raised after reporting it (must be 0);
* ``stop_all_s``: stopping every camera actor at the end.

Figures only, never asserted in tests. Needs VIGIL_SHARED (models, clip, photos). The JSON object
is printed once measured, before the teardown; a second one follows with the teardown figures.

    nice -n 10 .venv/bin/python scripts/bench_cluster.py --cameras 2 --seconds 30 --pack dlib
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

STORE = 80 * 1024 * 1024
WATCH_SECONDS = 12.0  # after every actor holds the empty gallery: matches still coming?
TICKS = os.sysconf("SC_CLK_TCK")


def _context(home: Path, shared: Path, pack: str) -> Any:
    from vigil.config import load_settings
    from vigil.context import build_context
    from vigil.services.cases import CaseSetup, open_case

    settings = load_settings(
        {
            "VIGIL_HOME": str(home),
            "VIGIL_MODEL_PACK": pack,
            "VIGIL_ONNX_DETECTOR": str(shared / "models" / "yunet_2023mar.onnx"),
            "VIGIL_ONNX_EMBEDDER": str(shared / "models" / "mobilefacenet.onnx"),
        }
    )
    ctx = build_context(settings)
    case = CaseSetup("ORD-BENCH", "Art 1", "Court", "missing", "Lin-Manuel Miranda",
                     timedelta(days=1), valid_before=timedelta(hours=1))  # fmt: skip
    open_case(ctx, case, [shared / "data" / "photos" / "lin-manuel-miranda.png"], actor="bench")
    return ctx


def _cameras(n: int, clip: Path) -> list[Any]:
    from vigil.config import CameraConfig

    return [CameraConfig(name=f"cam{i}", url=str(clip), max_fps=5) for i in range(n)]


def _fps(engine: Any, seconds: float) -> list[float]:
    """Analysed fps per camera over the window (from frame counters)."""
    first = {s.camera: s.frames_analysed for s in engine.statuses()}
    time.sleep(seconds)
    last = {s.camera: s.frames_analysed for s in engine.statuses()}
    return [round((last[c] - first.get(c, 0)) / seconds, 2) for c in sorted(last)]


def _ray_processes(session: str) -> dict[int, str]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if session in args or "ray::" in args:
            found[int(pid)] = args
    return {p: a for p, a in found.items() if "CameraActor" not in a}


def _cpu_rss(pids: list[int]) -> tuple[float, float]:
    ticks, rss = 0, 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(stat[11]) + int(stat[12])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return ticks / TICKS, rss / 1024.0


def _ray_cost(session: str, nodes: int, seconds: float) -> dict[str, float]:
    pids = list(_ray_processes(session))
    cpu0, _ = _cpu_rss(pids)
    time.sleep(seconds)
    cpu1, rss = _cpu_rss(pids)
    return {
        "processes": len(pids),
        "cpu_percent_per_node": round(100.0 * (cpu1 - cpu0) / seconds / nodes, 1),
        "rss_mb_per_node": round(rss / nodes, 1),
    }


def _cluster(cpus: int, attempts: int = 3) -> Any:
    """Head (no CPUs) + 2 worker nodes of ``cpus`` CPU slots on 127.0.0.1; retried: Ray gives a
    node a fixed 30 s to register, which a loaded machine can miss."""
    from ray.cluster_utils import Cluster

    local = {"node_ip_address": "127.0.0.1", "object_store_memory": STORE}
    for attempt in range(attempts):
        cluster = None
        try:
            cluster = Cluster(
                initialize_head=True,
                head_node_args={**local, "num_cpus": 0, "include_dashboard": False},
            )
            nodes = [cluster.add_node(num_cpus=cpus, **local) for _ in range(2)]
            cluster.wait_for_nodes()
            return cluster, nodes
        except Exception:
            if cluster is not None:
                cluster.shutdown()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _wait(condition: Any, timeout: float, since: float | None = None) -> float:
    """Seconds from ``since`` (default: now) until ``condition()``; NaN after ``timeout``."""
    start = time.monotonic() if since is None else since
    while not condition():
        if time.monotonic() - start > timeout:
            return float("nan")
        time.sleep(0.05)
    return round(time.monotonic() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pack", choices=("onnx", "dlib"), default="onnx", help="model pack")
    args = parser.parse_args()
    shared = Path(os.environ.get("VIGIL_SHARED", "../shared"))
    clip = shared / "data" / "video" / "short_hamilton_clip.mp4"
    from vigil.config import RuntimeConfig
    from vigil.runtime.ray_cluster import import_ray
    from vigil.runtime.ray_engine import RaySupervisor
    from vigil.runtime.supervisor import Supervisor
    from vigil.services.alerts import AlertBus

    result: dict[str, Any] = {"pack": args.pack, "cameras": args.cameras, "seconds": args.seconds}
    result["load_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = _context(Path(tmp) / "home", shared, args.pack)
        local = Supervisor(ctx, AlertBus(), loop_files=True)
        for cam in _cameras(args.cameras, clip):
            local.start_camera(cam)
        time.sleep(5)  # warm-up
        local_fps = _fps(local, args.seconds)
        local.stop_all()

        ray = import_ray()
        started = time.monotonic()
        cluster, nodes = _cluster(max(8, args.cameras))
        result["cluster_up_s"] = round(time.monotonic() - started, 1)
        session = cluster.head_node.session_name
        result["ray_idle"] = _ray_cost(session, 3, min(10.0, args.seconds))
        ctx.settings.runtime = RuntimeConfig(
            engine="ray", address=cluster.address, gallery_check_seconds=1.0, poll_seconds=0.25
        )
        bus = AlertBus()  # shared with the revocation, as in `vigil serve`
        engine = RaySupervisor(ctx, bus, loop_files=True)
        teardown: dict[str, Any] = {}
        try:
            for cam in _cameras(args.cameras, clip):
                engine.start_camera(cam)
            time.sleep(5)
            ray_fps = _fps(engine, args.seconds)
            result["ray_loaded"] = _ray_cost(session, 3, min(10.0, args.seconds))
            result["load_during_ray"] = os.getloadavg()
            result["fps"] = {"local": local_fps, "ray": ray_fps}
            result["held_5fps"] = {
                "local": sum(f >= 4.5 for f in local_fps),
                "ray": sum(f >= 4.5 for f in ray_fps),
            }
            result["ratio_ray_over_local"] = round(sum(ray_fps) / max(sum(local_fps), 1e-9), 3)
            result.update(_node_loss(engine, cluster, nodes))
            result.update(_revocation(ctx, bus, engine))
            result["load_after"] = os.getloadavg()
            print(json.dumps(result, indent=2), flush=True)
        finally:
            stopping = time.monotonic()
            engine.stop_all()
            teardown["stop_all_s"] = round(time.monotonic() - stopping, 2)
            ray.shutdown()
            cluster.shutdown()
            ctx.close()
    print(json.dumps({**teardown, "load_after_teardown": os.getloadavg()}, indent=2))


def _revocation(ctx: Any, bus: Any, engine: Any) -> dict[str, Any]:
    from vigil.domain.enums import AuthorizationStatus
    from vigil.services.authorizations import AuthorizationService

    revoked_at = time.monotonic()
    purged = AuthorizationService(ctx.db, bus).end(
        "ORD-BENCH", AuthorizationStatus.revoked, actor="bench"
    )
    emptied = _wait(
        lambda: all(r.gallery_entries == 0 for r in engine.reports().values()), 120, revoked_at
    )
    raised = sum(r.raised for r in engine.reports().values())
    received = _received(engine)
    time.sleep(WATCH_SECONDS)
    return {
        "alerts_purged": purged["alerts"],
        "revocation_to_zero_s": emptied,
        "matches_after_zero": _received(engine) - received,
        "raised_after_zero": sum(r.raised for r in engine.reports().values()) - raised,
    }


def _received(engine: Any) -> int:
    """Candidates and sighting updates the command center stored or refused so far."""
    return int(engine.refused) + sum(engine.link(c).stored for c in engine.reports())


def _node_loss(engine: Any, cluster: Any, nodes: list[Any]) -> dict[str, Any]:
    reports = engine.reports()
    victim_id = next(iter(reports.values())).node_id
    victim = next(n for n in nodes if n.node_id == victim_id)
    moved = [c for c, r in reports.items() if r.node_id == victim_id]
    frames = {c: reports[c].frames for c in moved}
    cluster.remove_node(victim)

    def running() -> bool:
        now = engine.reports()
        return all(
            now[c].node_id != victim_id and now[c].frames > 0 and now[c].frames != frames[c]
            for c in moved
        )

    return {"node_loss_cameras": len(moved), "node_loss_to_running_s": _wait(running, 300)}


if __name__ == "__main__":
    main()
