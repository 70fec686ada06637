"""`vigil egress` through the CLI runner: what the deployment may reach and what it reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vigil.accountability import audit
from vigil.cli.main import app
from vigil.db.session import Database
from vigil.repositories.camera_sessions import CameraSessionRepo
from vigil.runtime.no_call_home import OFF, switch_off
from vigil.services.egress import camera_endpoint, database_endpoint
from vigil.timeutil import utcnow

CONFIG = {
    "cameras": [
        {"name": "gate", "url": "rtsp://viewer:s3cret@10.0.0.7:554/stream1?token=x"},
        {"name": "hall", "url": "/srv/video/hall.mp4"},
    ],
    "alerts_out": {
        "webhooks": ["https://user:pw@hooks.example.org/vigil?key=abc"],
        "webhook_secret": "a-webhook-secret-that-is-long-enough-0123",
        "mqtt_host": "broker.city.local",
        "mqtt_port": 8883,
    },
}


def _deployment(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["init", "--plain-http"], env={"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    path = home / "vigil.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **CONFIG}))
    return home


def _egress(home: Path) -> dict:
    result = CliRunner().invoke(app, ["egress", "--json"], env={"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _record_use(home: Path) -> None:
    """Two webhook deliveries (one given up), one MQTT delivery, two runs of camera gate."""
    db = Database(f"sqlite:///{home / 'vigil.db'}")
    hook = "https://hooks.example.org/vigil"
    try:
        with db.write() as s:
            for action, channel, dest in [
                ("alert.outbound", "webhook", hook),
                ("alert.outbound_failed", "webhook", hook),
                ("alert.outbound", "mqtt", "vigil/alerts/confirmed"),
            ]:
                details = {"channel": channel, "destination": dest, "attempts": 1, "delivery": 1}
                audit.record(s, actor="system", action=action, target="alert:1", details=details)
            repo = CameraSessionRepo(s)
            for _ in range(2):
                repo.start("gate", pack="dlib", threshold=0.5, watchlists=[], started_at=utcnow())
    finally:
        db.dispose()


def test_egress_lists_the_configured_endpoints_without_credentials(tmp_path: Path) -> None:
    home = _deployment(tmp_path)
    out = _egress(home)
    allowed = {(e["kind"], e["endpoint"]) for e in out["allowed"]}
    assert allowed == {
        ("camera", "rtsp://10.0.0.7:554/stream1"),
        ("camera", "file /srv/video/hall.mp4"),
        ("webhook", "https://hooks.example.org/vigil"),
        ("mqtt", "broker.city.local:8883"),
        ("database", f"file {(home / 'vigil.db').resolve()} (sqlite: no connection)"),
    }
    assert "s3cret" not in json.dumps(out) and "key=abc" not in json.dumps(out)
    assert out["reached"] == []


def test_egress_counts_what_the_deployment_reached(tmp_path: Path) -> None:
    home = _deployment(tmp_path)
    _record_use(home)
    reached = {(r["kind"], r["endpoint"]): r for r in _egress(home)["reached"]}
    hook = reached[("webhook", "https://hooks.example.org/vigil")]
    assert (hook["count"], hook["failed"]) == (2, 1)
    assert reached[("mqtt", "broker.city.local:8883 topic vigil/alerts/confirmed")]["count"] == 1
    gate = reached[("camera", "gate (rtsp://10.0.0.7:554/stream1)")]
    assert gate["count"] == 2 and gate["last"]
    assert len(reached) == 3


def test_egress_table_output(tmp_path: Path) -> None:
    home = _deployment(tmp_path)
    result = CliRunner().invoke(app, ["egress"], env={"VIGIL_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "may reach" in result.output and "broker.city.local:8883" in result.output
    assert "reached: nothing yet" in result.output


def test_egress_without_a_deployment_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["egress"], env={"VIGIL_HOME": str(tmp_path / "none")})
    assert result.exit_code != 0
    assert "vigil init" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://vigil:pw@db.city.local:5433/vigil",
            "postgresql://db.city.local:5433",
        ),
        ("postgresql+psycopg://vigil@/vigil", "postgresql://local socket"),
        ("sqlite:///x/vigil.db", "file x/vigil.db (sqlite: no connection)"),
    ],
)
def test_database_endpoint_drops_credentials(url: str, expected: str) -> None:
    assert database_endpoint(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://u:p@cam.local/s?auth=1", "rtsp://cam.local/s"),
        ("http://10.1.1.1:8080/mjpeg", "http://10.1.1.1:8080/mjpeg"),
        ("clips/a.mp4", "file clips/a.mp4"),
    ],
)
def test_camera_endpoint_drops_credentials(url: str, expected: str) -> None:
    assert camera_endpoint(url) == expected


def test_the_vigil_command_switches_phone_home_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OFF:
        monkeypatch.setenv(name, "1" if OFF[name] == "0" else "0")
    CliRunner().invoke(app, ["egress"], env={"VIGIL_HOME": str(tmp_path / "none")})
    import os

    assert {name: os.environ[name] for name in OFF} == OFF
    env: dict[str, str] = {}
    switch_off(env)
    assert env == OFF
