"""RTSP end to end: the Hamilton clip served by a real RTSP server on 127.0.0.1, analysed by a
Supervisor-run camera with the ONNX pack; the alert arrives on the AlertBus, and after the server
is killed and restarted the camera reconnects, as the Supervisor's status shows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from enrolled_context import lin_context  # noqa: F401 - a fixture
from rtsp_server import RtspServer, hamilton_rtsp, require_rtsp_tools, rtsp_stream  # noqa: F401
from vigil.cli.main import app
from vigil.config import CameraConfig, SourceConfig, settings_environment
from vigil.context import AppContext
from vigil.db.models import Alert
from vigil.domain.events import AlertEvent
from vigil.runtime.supervisor import Supervisor
from vigil.services.alerts import AlertBus
from vigil.sources.worker import CameraState, CameraStatus
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.rtsp, pytest.mark.shared]
LIN = "Lin-Manuel Miranda"


def test_rtsp_alert_and_reconnect_through_the_supervisor(
    lin_context: AppContext,  # noqa: F811 - the imported fixture
    hamilton_clip: Path,
    record_property: pytest.RecordProperty,
) -> None:
    require_rtsp_tools()
    lin_context.settings.sources = SourceConfig(
        reconnect_initial_seconds=0.5,
        reconnect_max_seconds=2.0,
        open_timeout_seconds=10,
        read_timeout_seconds=5,
    )
    events: list[AlertEvent] = []
    bus = AlertBus()
    bus.subscribe(events.append)
    supervisor = Supervisor(lin_context, bus)
    with rtsp_stream(hamilton_clip) as server:
        supervisor.start_camera(CameraConfig(name="stage", url=server.url, max_fps=5))
        try:

            def status() -> CameraStatus:
                (only,) = supervisor.statuses()
                return only

            started = time.monotonic()
            wait_for(lambda: any(e.kind == "candidate" for e in events), "an alert over RTSP")
            record_property("rtsp_first_alert_seconds", round(time.monotonic() - started, 1))
            alert = next(e.alert for e in events if e.kind == "candidate")
            assert alert is not None
            assert (alert.subject_name, alert.camera, alert.watchlist) == (LIN, "stage", "missing")
            assert status().state is CameraState.CONNECTED and status().kind == "rtsp"
            assert status().reconnects == 0

            server.stop()
            wait_for(lambda: status().state is not CameraState.CONNECTED, "the loss to show")
            frames_before = status().frames_in
            server.start()
            wait_for(
                lambda: (
                    status().state is CameraState.CONNECTED and status().frames_in > frames_before
                ),
                "the camera to reconnect",
            )
            assert status().reconnects >= 1
            assert supervisor.preview_jpeg("stage") is not None
        finally:
            supervisor.stop_all()
    with lin_context.db.read() as s:
        rows = s.scalars(select(Alert)).all()
    assert rows and all(r.camera == "stage" for r in rows)
    assert {r.id for r in rows} >= {e.alert_id for e in events if e.kind == "candidate"}


def test_analyze_cli_on_a_live_rtsp_stream(
    lin_context: AppContext,  # noqa: F811 - the imported fixture
    hamilton_rtsp: RtspServer,  # noqa: F811 - the imported fixture
) -> None:
    settings = lin_context.settings
    env = settings_environment(settings)
    # 20 s of a looping 9.2 s clip: the performer passes at least once in full.
    args = ["analyze", hamilton_rtsp.url, "--camera", "stage", "--json", "--duration", "20"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert alerts and {a["subject"] for a in alerts} == {LIN}
    assert all(a["camera"] == "stage" for a in alerts)
