"""Two `vigil serve` processes (real subprocesses, 127.0.0.1) on one real PostgreSQL database:
a login on one works on the other, an alert event raised through one reaches a WebSocket on the
other, and the periodic jobs run in one of them only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import text
from test_server_cli import PASSWORD_LINE, Process, _change_password
from typer.testing import CliRunner

from pg_seed import store_candidate
from pg_server import PgCluster, free_port
from vigil.cli.main import app

pytestmark = pytest.mark.slow  # two servers starting: tens of seconds on 2 cores


@pytest.fixture()
def pg_home(tmp_path: Path, pg_cluster: PgCluster) -> Iterator[tuple[dict[str, str], str]]:
    """`vigil init` on an empty PostgreSQL database; returns the environment and the password."""
    name = pg_cluster.create_database(migrated=False)
    env = {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_DATABASE_URL": pg_cluster.url(name)}
    result = CliRunner().invoke(app, ["init", "--plain-http"], env=env)
    assert result.exit_code == 0, result.output
    yield env, PASSWORD_LINE.search(result.output).group(1)
    pg_cluster.drop_database(name)


def _seed_alert(env: dict[str, str]) -> int:
    """A real candidate alert stored in the shared database by this (third) process."""
    from vigil.config import load_settings
    from vigil.context import build_context

    context = build_context(load_settings(env), create=False)
    try:
        return store_candidate(context)
    finally:
        context.close()


async def _first_message(url: str, cookie: str, origin: str, ready: asyncio.Event) -> dict:
    headers = {"Cookie": cookie, "Origin": origin}
    async with websockets.connect(url, additional_headers=headers, open_timeout=30) as ws:
        ready.set()
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message.get("type") == "alert":
                return message


def _retention_runs(url: str) -> int:
    from vigil.db.session import Database

    db = Database(url)
    try:
        with db.read() as s:
            return int(s.execute(text("SELECT count(*) FROM retention_runs")).scalar_one())
    finally:
        db.dispose()


def test_two_servers_share_logins_alert_events_and_run_the_jobs_once(
    pg_home: tuple[dict[str, str], str],
) -> None:
    env, password = pg_home
    ports = free_port(), free_port()
    servers = [Process(["serve", "--port", str(p)], env) for p in ports]
    try:
        for server in servers:
            server.wait_for("Uvicorn running", timeout=120)
        base_a, base_b = (f"http://127.0.0.1:{p}" for p in ports)
        with httpx.Client(timeout=60) as a, httpx.Client(timeout=60) as b:
            _change_password(a, base_a, "admin", password)  # logged in on A
            b.cookies = a.cookies
            b.headers["X-CSRF-Token"] = a.headers["X-CSRF-Token"]
            me = b.get(f"{base_b}/api/auth/me")
            assert me.status_code == 200, me.text  # the session lives in the shared database
            assert me.json()["username"] == "admin"

            alert_id = _seed_alert(env)
            cookie = "; ".join(f"{k}={v}" for k, v in a.cookies.items())

            async def scenario() -> dict:
                ready = asyncio.Event()
                ws_url = f"ws://127.0.0.1:{ports[1]}/ws/alerts"
                listener = asyncio.create_task(_first_message(ws_url, cookie, base_b, ready))
                await asyncio.wait_for(ready.wait(), 30)
                await asyncio.sleep(0.5)
                r = await asyncio.to_thread(
                    a.post,
                    f"{base_a}/api/alerts/{alert_id}/reviews",
                    json={"decision": "confirm"},
                )
                assert r.status_code == 200, r.text
                return await listener

            message = asyncio.run(scenario())
            assert message["event"] == "reviewed"
            assert message["alert_id"] == alert_id
            assert message["alert"]["confirmations"] == 1
        time.sleep(1.0)
        assert _retention_runs(env["VIGIL_DATABASE_URL"]) == 1  # one leader ran its first round
    finally:
        codes = [server.stop() for server in servers]
        outputs = "\n".join(s.output for s in servers)
        print(outputs)  # shown when the test fails
    assert codes == [0, 0], outputs
    assert "Traceback" not in outputs
