"""SIGKILL the command center while its camera actor holds candidates, restart it: every candidate
is stored exactly once.

Real parts only: a Ray cluster on 127.0.0.1 (a head without CPUs and one worker node, small object
stores), a real PostgreSQL database and `vigil serve` as a separate process with
``runtime.engine: ray``. Lin-Manuel Miranda is enrolled (ONNX pack) and one camera loops the
Hamilton clip; ``tracking.passage_gap_seconds: 0`` makes each of his passages its own candidate,
so candidates keep coming while no command center collects them.

Scenario: the first alert is stored; the server is frozen (SIGSTOP) until the actor holds two
unsent candidates, then killed (SIGKILL). The oldest held one is stored here under its delivery
key, as if the killed server had stored it just before it died and the acknowledgement never
reached the actor. A new `vigil serve` adopts the actor: every held candidate ends up stored,
none twice (each alert has exactly one opening delivery key), none lost (the actor's candidate
sequence numbers stored have no gap, nothing dropped), `vigil cluster status` shows the actor
with its drops, and `vigil audit verify` passes. Slow (cluster and two servers): marked ``ray``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from pg_server import PgCluster, free_port
from ray_local import local_cluster
from vigil.cli.main import app
from vigil.config import RuntimeConfig, load_settings
from vigil.context import AppContext, build_context
from vigil.db.models import Alert, CandidateDelivery
from vigil.runtime.ray_cluster import connect
from vigil.runtime.wire import Delivery, actor_name
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.cases import CaseSetup, open_case
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared, pytest.mark.ray, pytest.mark.timeout(900)]

VIGIL = Path(sys.executable).parent / "vigil"
PASSWORD_LINE = re.compile(r"^\s{2}(\S{12,})\s*$", re.MULTILINE)  # vigil init
CANDIDATE_KEY = re.compile(r"^([0-9a-f]+):(\d+)$")  # incarnation:seq (not sightings/fallbacks)


class Server:
    """`vigil serve` as a subprocess, its output collected on a thread."""

    def __init__(self, env: dict[str, str], *, loop_files: bool = True) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(VIGIL), "serve", "--port", str(self.port)] + ["--loop-files"] * loop_files,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env, "COLUMNS": "160"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_running(self, timeout: float = 240) -> None:
        wait_for(lambda: "Uvicorn running" in self.output or self.proc.poll() is not None,
                 "vigil serve to listen", timeout)  # fmt: skip
        assert self.proc.poll() is None, self.output

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(90)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._reader.join(5)


@pytest.fixture(scope="module")
def one_node_cluster() -> Iterator[Any]:
    yield from local_cluster(1, 1)


def init_deployment(
    home: Path,
    database_url: str,
    onnx_models: tuple[Path, Path],
    photos: Path,
    config: dict[str, Any],
) -> dict[str, str]:
    """`vigil init` on ``database_url``, ``config`` merged into vigil.yaml, Lin-Manuel Miranda
    enrolled (ONNX pack); returns the environment of the deployment."""
    det, emb = onnx_models
    env = {
        "VIGIL_HOME": str(home),
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_MODEL_PACK": "onnx",
        "VIGIL_ONNX_DETECTOR": str(det),
        "VIGIL_ONNX_EMBEDDER": str(emb),
    }
    result = CliRunner().invoke(app, ["init", "--plain-http"], env=env)
    assert result.exit_code == 0, result.output
    env["VIGIL_TEST_PASSWORD"] = PASSWORD_LINE.search(result.output).group(1)
    config_file = home / "vigil.yaml"
    config_file.write_text(yaml.safe_dump(yaml.safe_load(config_file.read_text()) | config))
    context = build_context(load_settings(env), create=False)
    try:
        case = CaseSetup(
            reference="ORD-KILL-1", legal_basis="Art 1", authority="Court", watchlist="missing",
            subject="Lin-Manuel Miranda", valid_for=timedelta(days=1),
        )  # fmt: skip
        open_case(context, case, [photos / "lin-manuel-miranda.png"], actor="test")
    finally:
        context.close()
    return env


@pytest.fixture()
def deployment(
    tmp_path: Path,
    pg_cluster: PgCluster,
    one_node_cluster: Any,
    onnx_models: tuple[Path, Path],
    hamilton_clip: Path,
    photos: Path,
) -> Iterator[dict[str, str]]:
    """PostgreSQL, the Ray engine and one looping camera of the Hamilton clip."""
    name = pg_cluster.create_database(migrated=False)
    config = {
        "runtime": {
            "engine": "ray",
            "address": one_node_cluster.address,
            "poll_seconds": 0.2,
            "gallery_check_seconds": 1.0,
        },
        "tracking": {"passage_gap_seconds": 0.0},  # each passage of his: a new candidate
        "cameras": [{"name": "stage", "url": str(hamilton_clip), "max_fps": 5}],
    }
    yield init_deployment(tmp_path / "home", pg_cluster.url(name), onnx_models, photos, config)
    pg_cluster.drop_database(name)


def deliveries_of(context: AppContext) -> dict[str, int]:
    with context.db.read() as s:
        return dict(s.execute(select(CandidateDelivery.key, CandidateDelivery.alert_id)).all())


def alert_count(context: AppContext) -> int:
    with context.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Alert)) or 0)


def opening_keys(deliveries: dict[str, int]) -> dict[int, list[str]]:
    """Alert id -> the delivery keys that opened it (candidates and fallback alerts)."""
    opened: dict[int, list[str]] = {}
    for key, alert_id in deliveries.items():
        if CANDIDATE_KEY.match(key) or "/" in key:
            opened.setdefault(alert_id, []).append(key)
    return opened


def _seqs(deliveries: dict[str, int], incarnation: str) -> set[int]:
    found = set()
    for key in deliveries:
        m = CANDIDATE_KEY.match(key)
        if m and m.group(1) == incarnation:
            found.add(int(m.group(2)))
    return found


def test_sigkilled_command_center_restarts_and_stores_every_candidate_once(
    deployment: dict[str, str], one_node_cluster: Any
) -> None:
    env = deployment
    context = build_context(load_settings(env), create=False)
    ray = connect(RuntimeConfig(engine="ray", address=one_node_cluster.address))
    first, second = Server(env), None
    try:
        first.wait_running()
        wait_for(lambda: deliveries_of(context), "the first alert stored by vigil serve", 300)
        handle = ray.get_actor(actor_name("stage"), namespace="vigil")

        # Freeze the command center, let the actor gather candidates, then kill it outright.
        first.signal(signal.SIGSTOP)
        wait_for(lambda: ray.get(handle.report.remote()).pending >= 2, "2 held candidates", 180)
        first.signal(signal.SIGKILL)
        first.proc.wait(30)
        report = ray.get(handle.report.remote())
        held: Delivery = ray.get(handle.take.remote(10**6))
        keys = [c.key for c in held.candidates]
        assert len(keys) >= 2 and report.dropped == 0

        # The dead server had stored the oldest, but the actor never heard so.
        store = AlertStore(context.db, context.cipher, context.settings, AlertBus())
        pre_stored = store.save(held.candidates[0].candidate, delivery_key=keys[0])

        second = Server(env)
        second.wait_running()

        def redelivered() -> bool:  # stored by the new server, and the actor heard so
            return not set(keys) & set(ray.get(handle.pending_keys.remote()))

        wait_for(redelivered, "every held candidate stored and acknowledged", 180)
        deliveries = deliveries_of(context)
        assert set(keys) <= set(deliveries)
        assert deliveries[keys[0]] == pre_stored  # redelivered, not stored again
        seqs = _seqs(deliveries, report.incarnation)
        assert seqs == set(range(1, max(seqs) + 1))  # none lost: no gap in the actor's sequence
        assert max(seqs) >= int(CANDIDATE_KEY.match(keys[-1]).group(2))

        status = CliRunner().invoke(app, ["cluster", "status", "--json"], env=env)
        assert status.exit_code == 0, status.output
        (row,) = json.loads(status.output)["actors"]
        assert (row["camera"], row["node_ip"]) == ("stage", "127.0.0.1")
        assert (row["dropped"], row["dropped_sightings"]) == (0, 0)
        assert row["gallery_version"] >= 1
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
        code = second.stop() if second is not None else None
        print(first.output, second.output if second else "")  # shown when the test fails
    try:
        assert code == 0
        assert "Traceback" not in first.output + second.output  # no failed collection round
        opened = opening_keys(deliveries_of(context))
        assert all(len(k) == 1 for k in opened.values()), opened  # none stored twice
        assert alert_count(context) == len(opened)
        verify = CliRunner().invoke(app, ["audit", "verify"], env=env)
        assert verify.exit_code == 0, verify.output
    finally:
        context.close()
