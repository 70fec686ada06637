"""Four RTSP cameras on a Ray cluster behind `vigil serve`: the alert reaches the WebSocket, a node
is removed, its cameras come back on the other node and alert again.

Real parts only: a Ray cluster on 127.0.0.1 (a head without CPUs and 2 worker nodes of 2 CPUs,
half a CPU per camera, small object stores), a real RTSP server on 127.0.0.1 looping the
Hamilton clip (4 cameras read it over RTP/TCP), real PostgreSQL and `vigil serve` as a separate
process (``runtime.engine: ray``) with Lin-Manuel Miranda enrolled (ONNX pack). A logged-in
WebSocket client receives his candidate alert; the node running that camera is removed; the
camera runs again on the surviving node and its new candidate reaches the WebSocket; after a
clean stop no candidate is stored twice and `vigil audit verify` passes. Slow: marked ``ray``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from test_ray_serve_crash import (
    Server,
    alert_count,
    deliveries_of,
    init_deployment,
    opening_keys,
)
from typer.testing import CliRunner

from pg_server import PgCluster
from ray_local import STORE, local_cluster
from rtsp_server import RtspServer, rtsp_stream
from vigil.cli.main import app
from vigil.config import RuntimeConfig, load_settings
from vigil.context import build_context
from vigil.runtime.ray_cluster import connect
from vigil.runtime.wire import actor_name
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared, pytest.mark.ray, pytest.mark.timeout(900)]

CAMERAS = ("north", "south", "east", "west")


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[Any]:
    yield from local_cluster(2, 2)


@pytest.fixture()
def stream(hamilton_clip: Path) -> Iterator[RtspServer]:
    with rtsp_stream(hamilton_clip) as server:
        yield server


class AlertListener:
    """A logged-in WebSocket client on its own thread, keeping every alert message."""

    def __init__(self, url: str, cookie: str, origin: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._args = (url, {"Cookie": cookie, "Origin": origin})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._listen())
        except BaseException as exc:  # shown by the test
            self.error = exc
            self.ready.set()

    async def _listen(self) -> None:
        url, headers = self._args
        async with websockets.connect(url, additional_headers=headers, open_timeout=30) as ws:
            self.ready.set()
            while not self._stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
                except TimeoutError:
                    continue
                if message.get("type") == "alert":
                    self.messages.append(message)

    def candidates(self, camera: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in list(self.messages)
            if m.get("event") == "candidate" and (camera is None or m["alert"]["camera"] == camera)
        ]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _login(client: httpx.Client, base: str, one_time: str) -> None:
    r = client.post(f"{base}/api/auth/login", json={"username": "admin", "password": one_time})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    new = "a-new-long-passphrase-42"
    r = client.post(
        f"{base}/api/auth/password", json={"current_password": one_time, "new_password": new}
    )
    assert r.status_code == 204, r.text
    r = client.post(f"{base}/api/auth/login", json={"username": "admin", "password": new})
    assert r.status_code == 200, r.text


def test_four_rtsp_cameras_alert_on_the_websocket_and_survive_a_node_removal(
    tmp_path: Path,
    pg_cluster: PgCluster,
    two_node_cluster: Any,
    stream: RtspServer,
    onnx_models: tuple[Path, Path],
    photos: Path,
) -> None:
    name = pg_cluster.create_database(migrated=False)
    config = {
        "runtime": {
            "engine": "ray",
            "address": two_node_cluster.address,
            "num_cpus_per_camera": 0.5,  # 4 per node of 2 CPUs: one node can hold them all
            "poll_seconds": 0.2,
            "gallery_check_seconds": 1.0,
        },
        "cameras": [{"name": c, "url": stream.url, "max_fps": 5} for c in CAMERAS],
    }
    env = init_deployment(tmp_path / "home", pg_cluster.url(name), onnx_models, photos, config)
    ray = connect(RuntimeConfig(engine="ray", address=two_node_cluster.address))
    context = build_context(load_settings(env), create=False)
    server, listener = Server(env, loop_files=False), None
    try:
        server.wait_running()
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(timeout=60) as client:
            _login(client, base, env["VIGIL_TEST_PASSWORD"])
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        listener = AlertListener(f"ws://127.0.0.1:{server.port}/ws/alerts", cookie, base)
        assert listener.ready.wait(60) and listener.error is None, listener.error
        wait_for(lambda: listener.candidates(), "his alert on the WebSocket", 300)
        camera = listener.candidates()[0]["alert"]["camera"]
        handle = ray.get_actor(actor_name(camera), namespace="vigil")
        first_node = ray.get(handle.report.remote()).node_id
        handles = [ray.get_actor(actor_name(c), namespace="vigil") for c in CAMERAS]
        nodes = {ray.get(h.report.remote()).node_id for h in handles}
        print(f"4 cameras on {len(nodes)} node(s)")

        seen = len(listener.candidates(camera))
        victim = next(n for n in two_node_cluster.worker_nodes if n.node_id == first_node)
        two_node_cluster.remove_node(victim)

        def moved() -> bool:
            try:
                return ray.get(handle.report.remote(), timeout=5).node_id != first_node
            except Exception:  # restarting
                return False

        wait_for(moved, f"camera {camera} on the surviving node", 300)
        incarnation = ray.get(handle.report.remote()).incarnation  # the restarted actor's

        def alert_from_moved_camera() -> bool:  # its own new candidate, not a late old one
            ids = {m["alert"]["id"] for m in listener.candidates(camera)[seen:]}
            keys = deliveries_of(context)
            return any(k.startswith(f"{incarnation}:") and a in ids for k, a in keys.items())

        wait_for(alert_from_moved_camera, "an alert from the moved camera on the WebSocket", 300)
        assert listener.error is None, listener.error

        # The node returns: `vigil cluster status` lists it, every camera runs on a live node.
        two_node_cluster.add_node(
            num_cpus=2, node_ip_address="127.0.0.1", object_store_memory=STORE
        )
        two_node_cluster.wait_for_nodes()
        status = CliRunner().invoke(app, ["cluster", "status", "--json"], env=env)
        assert status.exit_code == 0, status.output
        found = json.loads(status.output)
        alive = [n for n in found["nodes"] if n["alive"]]
        assert len(alive) == 3  # the head and 2 workers
        assert sorted(c for n in alive for c in n["cameras"]) == sorted(CAMERAS)
        assert {a["camera"]: a["dropped"] + a["dropped_sightings"] for a in found["actors"]} == {
            c: 0 for c in CAMERAS
        }
    finally:
        if listener is not None:
            listener.close()
        code = server.stop()
        print(server.output)  # shown when the test fails
    try:
        assert code == 0
        assert "Traceback" not in server.output
        opened = opening_keys(deliveries_of(context))
        assert all(len(k) == 1 for k in opened.values()), opened  # none stored twice
        assert alert_count(context) == len(opened)
        verify = CliRunner().invoke(app, ["audit", "verify"], env=env)
        assert verify.exit_code == 0, verify.output
    finally:
        context.close()
        pg_cluster.drop_database(name)
