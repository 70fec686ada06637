"""State that outlives a process, with real `vigil serve` processes on one real deployment, on
SQLite and on PostgreSQL (the ``db_backend`` parametrization):

* A confirmed alert's webhook survives a SIGKILL of the server and is delivered exactly once.
* A session cookie survives a restart; two servers on one deployment share logins and logouts.
* Four processes append audit records at once and the chain stays linear (`vigil audit verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from alert_rows import add_alert_row
from pg_server import database_env
from vigil.cli.main import app
from vigil.db.models import AuditEvent, OutboxMessage
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Role
from vigil.services.outbound import DELIVERY_HEADER, SIGNATURE_HEADER
from vigil.services.users import create_user
from waiting import wait_for

VIGIL = Path(sys.executable).with_name("vigil")
SECRET = "webhook-secret-for-durable-tests-0123456789"
PASSWORD = "a-long-enough-passphrase-7"

pytestmark = [pytest.mark.slow, pytest.mark.both_backends]


# -- helpers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Deployment:
    """A `vigil init`-ed data folder and its database (SQLite in HOME, or PostgreSQL)."""

    home: Path
    database_url: str | None  # None: the SQLite file in HOME

    @property
    def env(self) -> dict[str, str]:
        return {"VIGIL_HOME": str(self.home), **database_env(self.database_url)}

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'vigil.db'}"

    def db(self) -> Database:
        return Database(self.db_url)


class Server:
    """`vigil serve` as a real process on a free port; output collected on a thread."""

    def __init__(self, deployment: Deployment) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(VIGIL), "serve", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **deployment.env, "COLUMNS": "160"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(self._ready, f"`vigil serve` on port {self.port}", timeout=90)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"`vigil serve` exited:\n{''.join(self.lines)}")
        return "Uvicorn running" in "".join(self.lines)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; whatever still runs is stopped at the end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture()
def make_deployment(tmp_path: Path, empty_database_url: str | None) -> Callable[..., Deployment]:
    """`vigil init` on the test's backend (an empty PostgreSQL database, or SQLite in HOME),
    extra config merged into vigil.yaml, and two reviewers with passwords."""

    def make(**config: object) -> Deployment:
        deployment = Deployment(tmp_path / "home", empty_database_url)
        result = CliRunner().invoke(app, ["init", "--plain-http"], env=deployment.env)
        assert result.exit_code == 0, result.output
        path = deployment.home / "vigil.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **config}))
        db = deployment.db()
        try:
            create_user(db, "op1", Role.operator, PASSWORD, actor="test")
            create_user(db, "sup1", Role.supervisor, PASSWORD, actor="test")
        finally:
            db.dispose()
        return deployment

    return make


def _login(client: httpx.Client, base: str, username: str) -> None:
    r = client.post(f"{base}/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]


def _me(client: httpx.Client, base: str) -> int:
    return client.get(f"{base}/api/auth/me").status_code


def _candidate_alert(deployment: Deployment) -> int:
    """A candidate alert row, as the pipeline stores one (no face crop needed here)."""
    db = deployment.db()
    try:
        return add_alert_row(db, AlertStatus.candidate)
    finally:
        db.dispose()


@dataclass
class Receiver:
    """A real webhook receiver on 127.0.0.1 answering ``status``; checks each signature."""

    status: int = 503
    url: str = ""
    hits: list[tuple[int, str, bool, bytes]] = field(default_factory=list)  # answer, id, ok, body

    def successes(self) -> list[tuple[int, str, bool, bytes]]:
        return [h for h in self.hits if h[0] == 200]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected)
            status = rec.status
            rec.hits.append((status, self.headers.get(DELIVERY_HEADER, ""), valid, body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield rec
    server.shutdown()
    server.server_close()


def _outbox(deployment: Deployment) -> list[OutboxMessage]:
    db = deployment.db()
    try:
        with db.read() as s:
            return list(s.scalars(select(OutboxMessage)).all())
    finally:
        db.dispose()


# -- the tests --------------------------------------------------------------------------------


def test_webhook_pending_at_sigkill_is_delivered_once_after_restart(
    make_deployment: Callable[..., Deployment], receiver: Receiver, servers: list[Server]
) -> None:
    deployment = make_deployment(alerts_out={"webhooks": [receiver.url], "webhook_secret": SECRET})
    alert_id = _candidate_alert(deployment)
    first = Server(deployment)
    servers.append(first)
    for user in ("op1", "sup1"):  # the two-person rule: the second confirmation sends it
        with httpx.Client(timeout=10) as client:
            _login(client, first.base, user)
            r = client.post(
                f"{first.base}/api/alerts/{alert_id}/reviews", json={"decision": "confirm"}
            )
            assert r.status_code == 200, r.text
    # The receiver answers 503: the delivery waits in the outbox for its next try.
    wait_for(lambda: receiver.hits, "the first (refused) webhook", timeout=30)

    def rescheduled() -> bool:
        rows = _outbox(deployment)
        return bool(rows) and rows[0].attempts >= 1 and rows[0].claimed_by is None

    wait_for(rescheduled, "the refused delivery to be rescheduled", timeout=30)
    first.stop(signal.SIGKILL)
    assert first.proc.returncode == -signal.SIGKILL
    (row,) = _outbox(deployment)
    assert row.status == "pending"
    refused = len(receiver.hits)

    receiver.status = 200
    second = Server(deployment)
    servers.append(second)
    wait_for(receiver.successes, "the webhook after the restart", timeout=60)
    time.sleep(3)  # room for a duplicate to show up
    assert len(receiver.successes()) == 1
    _status, delivery, valid, body = receiver.successes()[0]
    assert valid and delivery == str(row.id)
    assert all(h[1] == delivery and h[3] == body for h in receiver.hits[:refused])  # same bytes
    (row,) = _outbox(deployment)
    assert row.status == "delivered"
    db = deployment.db()
    try:
        with db.read() as s:
            actions = s.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("alert.outbound%"))
            ).all()
    finally:
        db.dispose()
    assert actions == ["alert.outbound"]


def test_a_session_cookie_survives_a_server_restart(
    make_deployment: Callable[..., Deployment], servers: list[Server]
) -> None:
    deployment = make_deployment()
    first = Server(deployment)
    servers.append(first)
    client = httpx.Client(timeout=10)
    _login(client, first.base, "op1")
    assert _me(client, first.base) == 200
    first.stop()
    assert first.proc.returncode == 0
    second = Server(deployment)
    servers.append(second)
    assert _me(client, second.base) == 200  # the same cookie, a new process
    r = client.post(f"{second.base}/api/auth/logout")  # and its CSRF token still holds
    assert r.status_code == 204, r.text
    client.close()


def test_two_servers_share_logins_and_logouts(
    make_deployment: Callable[..., Deployment], servers: list[Server]
) -> None:
    deployment = make_deployment()
    a, b = Server(deployment), Server(deployment)
    servers += [a, b]
    with httpx.Client(timeout=10) as one, httpx.Client(timeout=10) as two:
        _login(one, a.base, "op1")
        assert (_me(one, a.base), _me(one, b.base)) == (200, 200)  # a login on A works on B
        assert one.post(f"{b.base}/api/auth/logout").status_code == 204
        assert (_me(one, a.base), _me(one, b.base)) == (401, 401)  # a logout on B ends it on A

        _login(one, a.base, "sup1")  # a password change on B ends sup1's session on A
        _login(two, b.base, "sup1")
        r = two.post(
            f"{b.base}/api/auth/password",
            json={"current_password": PASSWORD, "new_password": "another-long-passphrase"},
        )
        assert r.status_code == 204, r.text
        assert _me(one, a.base) == 401
        assert _me(two, a.base) == 200  # the session that changed it was renewed


WRITER = """
import sys, time
from pathlib import Path
from vigil.accountability import audit
from vigil.db.session import Database

db_url, start, n, name = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
db = Database(db_url)
while not start.exists():
    time.sleep(0.01)
for i in range(n):
    with db.write() as s:
        audit.record(s, actor=name, action="test.append", target=f"{name}:{i}")
db.dispose()
"""


def test_four_processes_append_to_one_linear_audit_chain(
    tmp_path: Path, make_deployment: Callable[..., Deployment]
) -> None:
    deployment = make_deployment()
    start = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, deployment.db_url, str(start), "50", f"w{n}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    time.sleep(1.0)  # let all four import and open the database, then start them together
    start.touch()
    for proc in writers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    db = deployment.db()
    try:
        with db.read() as s:
            rows = s.execute(
                select(
                    AuditEvent.id, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.actor
                ).order_by(AuditEvent.id)
            ).all()
    finally:
        db.dispose()
    appended = [r for r in rows if r.actor.startswith("w")]
    assert len(appended) == 200 and len({r.actor for r in appended}) == 4
    assert [r.id for r in rows] == list(range(rows[0].id, rows[0].id + len(rows)))
    assert all(cur.prev_hash == prev.hash for prev, cur in itertools.pairwise(rows))
    verify = subprocess.run(
        [str(VIGIL), "audit", "verify"],
        env={**os.environ, **deployment.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "audit chain intact" in verify.stdout
