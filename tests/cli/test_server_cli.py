"""`vigil init`, `vigil serve` and `vigil demo`: through CliRunner, and as real processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.db.models import User
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.web.security import verify_password

VIGIL = Path(sys.executable).with_name("vigil")
PASSWORD_LINE = re.compile(r"^\s{2}(\S{12,})\s*$", re.MULTILINE)


def _init(home: Path, *args: str):
    return CliRunner().invoke(app, ["init", "--plain-http", *args], env={"VIGIL_HOME": str(home)})


def _admin(home: Path, name: str = "admin") -> User:
    db = Database(f"sqlite:///{home / 'vigil.db'}")
    try:
        with db.read() as s:
            return s.query(User).filter_by(username=name).one()
    finally:
        db.dispose()


def test_init_creates_a_deployment_with_fresh_secrets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _init(home)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((home / "vigil.yaml").read_text())
    secret = config["server"]["secret_key"]
    assert len(secret) >= 60
    assert (home / "vigil.yaml").stat().st_mode & 0o777 == 0o600
    assert (home / "keys" / "data.key").exists()
    password = PASSWORD_LINE.search(result.output).group(1)
    assert result.output.count(password) == 1  # printed once
    admin = _admin(home)
    assert admin.role == Role.admin and admin.must_change_password
    assert verify_password(admin.password_hash, password)
    assert secret not in result.output


def test_two_inits_share_no_secret(tmp_path: Path) -> None:
    outputs = [_init(tmp_path / name) for name in ("a", "b")]
    passwords = {PASSWORD_LINE.search(r.output).group(1) for r in outputs}
    secrets_ = {
        yaml.safe_load((tmp_path / n / "vigil.yaml").read_text())["server"]["secret_key"]
        for n in "ab"
    }
    assert len(passwords) == 2 and len(secrets_) == 2


@pytest.mark.parametrize("existing", ["vigil.yaml", "vigil.db", "keys/data.key"])
def test_init_never_overwrites_an_existing_home(tmp_path: Path, existing: str) -> None:
    home = tmp_path / "home"
    assert _init(home).exit_code == 0
    keep = {
        p: p.read_bytes()
        for p in (home / "vigil.yaml", home / "vigil.db", home / "keys" / "data.key")
    }
    for other in {"vigil.yaml", "vigil.db", "keys/data.key"} - {existing}:
        (home / other).rename(home / f"{other.replace('/', '_')}.moved")
    result = _init(home)
    assert result.exit_code == 5
    assert "already holds a Vigil deployment" in result.output
    assert "nothing was changed" in result.output
    assert "Traceback" not in result.output
    assert (home / existing).read_bytes() == keep[home / existing]  # the one left in place


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--admin", "x"], "username 'x' is not allowed")],
)
def test_init_refuses_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    result = _init(tmp_path / "home", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "home" / "vigil.yaml").exists()


def test_serve_without_a_deployment_says_to_run_init(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve"], env={"VIGIL_HOME": str(tmp_path / "empty")})
    assert result.exit_code == 4
    assert "no deployment in" in result.output and "run `vigil init`" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "empty").exists()


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _init(home).exit_code == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "--port", str(port)], env={"VIGIL_HOME": str(home)}
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


# ------------------------------------------------------------------ real processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A `vigil` subprocess whose output is collected on a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(VIGIL), *args],
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

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; output:\n{self.output}")
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


def _change_password(client: httpx.Client, base: str, username: str, one_time: str) -> None:
    r = client.post(f"{base}/api/auth/login", json={"username": username, "password": one_time})
    assert r.status_code == 200, r.text
    assert r.json()["must_change_password"] is True
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    new = "a-new-long-passphrase-42"
    r = client.post(
        f"{base}/api/auth/password", json={"current_password": one_time, "new_password": new}
    )
    assert r.status_code == 204, r.text
    r = client.post(f"{base}/api/auth/login", json={"username": username, "password": new})
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]


@pytest.mark.slow
def test_serve_runs_until_sigterm_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _init(home)
    password = PASSWORD_LINE.search(result.output).group(1)
    port = _free_port()
    server = Process(["serve", "--port", str(port)], {"VIGIL_HOME": str(home)})
    try:
        server.wait_for("Uvicorn running", timeout=60)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client() as client:
            assert client.get(f"{base}/api/health").json()["status"] == "ok"
            assert client.get(f"{base}/login").status_code == 200
            _change_password(client, base, "admin", password)
            assert client.get(f"{base}/api/cameras").json() == []
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "Vigil stopped" in server.output
    assert "Traceback" not in server.output


def _demo_passwords(output: str) -> dict[str, str]:
    rows = re.findall(r"│\s*(admin|supervisor|operator|auditor)\s*│\s*\w+\s*│\s*(\S+)\s*│", output)
    return dict(rows)


@pytest.mark.slow
def test_demo_serves_and_raises_an_alert_within_a_minute(tmp_path: Path) -> None:
    """A fresh machine: no shared data, no home; the default dlib pack; an alert within 60 s."""
    port = _free_port()
    env = {
        "VIGIL_SHARED": str(tmp_path / "no-shared-data"),
        "VIGIL_HOME": str(tmp_path / "not-used"),
    }
    demo = Process(["demo", "--port", str(port)], env)
    try:
        demo.wait_for("Uvicorn running", timeout=240)
        ready = time.monotonic()
        passwords = _demo_passwords(demo.output)
        assert set(passwords) == {"admin", "supervisor", "operator", "auditor"}, demo.output
        assert len(set(passwords.values())) == 4
        base = f"http://127.0.0.1:{port}"
        alerts: list[dict] = []
        with httpx.Client(timeout=10) as client:
            _change_password(client, base, "operator", passwords["operator"])
            while not alerts and time.monotonic() - ready < 60:
                alerts = client.get(f"{base}/api/alerts").json()
                time.sleep(1)
        assert alerts, f"no alert within 60 s of the demo serving; output:\n{demo.output}"
        assert alerts[0]["subject_name"] == "Eileen Collins (demo)"
        assert alerts[0]["status"] == "candidate"
        assert alerts[0]["camera"] == "demo-street"
        home = Path(re.search(r"demo deployment in (\S+)", demo.output).group(1))
        assert home.exists()
    finally:
        code = demo.stop()
    assert code == 0, demo.output
    assert not home.exists()  # throw-away: removed on exit
    assert not (tmp_path / "not-used").exists()


@pytest.mark.parametrize(("args", "secure"), [([], True), (["--plain-http"], False)])
def test_init_writes_secure_cookies_for_the_deployment(
    tmp_path: Path, args: list[str], secure: bool
) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["init", *args], env={"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((home / "vigil.yaml").read_text())
    assert config["server"]["secure_cookies"] is secure
