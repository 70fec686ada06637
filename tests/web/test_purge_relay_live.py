"""Purges made by another process reach a running server's live feed, on SQLite and PostgreSQL.

A live server (uvicorn on 127.0.0.1, its alert relay started as `vigil serve` starts it) with a
logged-in WebSocket client; the purges are made through the CLI (typer's CliRunner: its own
settings, database engine and bus, as a separate `vigil` process would have), sharing the
server's database. The dashboard must hear of them at once, not at its next list reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from websockets.sync.client import ClientConnection, connect

from conftest import PASSWORDS, make_settings
from pg_seed import store_candidate
from pg_server import database_env, free_port
from role_users import create_role_users
from sqlite_template import SqliteTemplate
from vigil.cli.main import app
from vigil.cli.server import BackgroundServer, ServeOptions
from vigil.context import build_context
from vigil.db.models import Alert
from vigil.domain.enums import AlertStatus, Role
from vigil.timeutil import utcnow

RECEIVE_TIMEOUT = 60.0  # stops a broken test from hanging; no test asserts how fast


@dataclass
class Live:
    server: BackgroundServer
    cli_env: dict[str, str]  # what a `vigil` command run beside the server sees

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=self.cli_env)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture()
def live(
    tmp_path: Path, database_url: str | None, sqlite_template: SqliteTemplate
) -> Iterator[Live]:
    settings = make_settings(tmp_path / "home", database_url)
    sqlite_template.seed(settings)
    context = build_context(settings)
    create_role_users(context.db, PASSWORDS)
    options = ServeOptions("127.0.0.1", free_port(), log_level="warning")
    server = BackgroundServer(settings, options, context=context).start(cameras=False)
    try:
        yield Live(server, {"VIGIL_HOME": str(settings.home), **database_env(database_url)})
    finally:
        server.stop()


@pytest.fixture()
def feed(live: Live) -> Iterator[ClientConnection]:
    """An operator's live alert feed on the server, subscribed (its 'live' status received)."""
    base = live.server.url
    with httpx.Client(base_url=base, timeout=60) as client:
        r = client.post(
            "/api/auth/login", json={"username": "operator", "password": PASSWORDS[Role.operator]}
        )
        assert r.status_code == 200, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = base.replace("http://", "ws://") + "/ws/alerts"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": base}) as ws:
        status = json.loads(ws.recv(timeout=RECEIVE_TIMEOUT))
        assert status["type"] == "status" and status["live"] is True, status
        yield ws


def _alert_messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        message = json.loads(ws.recv(timeout=RECEIVE_TIMEOUT))
        if message.get("type") == "alert":
            messages.append(message)
    return messages


def test_a_cli_revocation_reaches_the_servers_live_feed(live: Live, feed: ClientConnection) -> None:
    context = live.server.context
    first = store_candidate(context, "ORDER-CLI")  # stored without the server's bus
    out = live.cli("authorization", "revoke", "ORDER-CLI")
    assert "purged 1 subjects" in out and "1 alerts" in out
    (message,) = _alert_messages(feed, 1)
    assert (message["event"], message["alert_id"], message["alert"]) == ("purged", first, None)
    second = store_candidate(context, "ORDER-REFUSED")
    live.cli("authorization", "refuse", "ORDER-REFUSED")
    (message,) = _alert_messages(feed, 1)
    assert (message["event"], message["alert_id"]) == ("purged", second)  # once, in order


def _age(live: Live, alert_id: int, days: int, status: AlertStatus) -> None:
    now = utcnow()
    with live.server.context.db.write() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        alert.status = status
        alert.created_at = now - timedelta(days=days)
        alert.decided_at = None if status is AlertStatus.candidate else alert.created_at


def test_a_retention_round_announces_what_it_deleted_and_changed(
    live: Live, feed: ClientConnection
) -> None:
    expired = store_candidate(live.server.context, "ORDER-OLD")
    cropped = store_candidate(live.server.context, "ORDER-KEPT")
    _age(live, expired, 400, AlertStatus.candidate)  # past candidate_alert_days: deleted
    _age(live, cropped, 40, AlertStatus.confirmed)  # past crop_days only: kept, crop dropped
    out = live.cli("retention", "run")
    assert "candidate_alerts 1" in out and "crops 0" not in out
    purged, updated = _alert_messages(feed, 2)
    assert (purged["event"], purged["alert_id"], purged["alert"]) == ("purged", expired, None)
    assert (updated["event"], updated["alert_id"]) == ("updated", cropped)
    assert updated["alert"]["has_crop"] is False  # the receiver loaded the alert as it is now
