"""`vigil analyze` helpers: which camera config a run uses, and how alerts are reported once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.config import CameraConfig, Settings, settings_environment
from vigil.context import AppContext
from vigil.domain.enums import AlertStatus, Purpose
from vigil.domain.events import AlertEvent, AlertPublic
from vigil.errors import InputError
from vigil.runtime.analyze import AlertPrinter, camera_config

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def event(alert_id: int, kind: str, seconds: float) -> AlertEvent:
    alert = AlertPublic(
        id=alert_id,
        camera="cam1",
        subject_id=1,
        subject_name="Jane",
        watchlist="wl",
        authorization_reference="ORD",
        purpose=Purpose.missing_person,
        score=0.9,
        threshold=0.5,
        pack="dlib",
        status=AlertStatus.candidate,
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=seconds),
        created_at=T0,
        has_crop=True,
    )
    return AlertEvent.of(kind, alert, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("live", "after_events", "at_finish"),
    [
        (False, [], [(1, 30.0), (2, 5.0)]),  # a file: every alert once at the end, final times
        (True, [(1, 10.0)], [(2, 5.0)]),  # a stream: when its first track ends, the rest at the end
    ],
)
def test_each_alert_is_reported_once(live: bool, after_events, at_finish) -> None:
    printed: list[tuple[int, float]] = []
    printer = AlertPrinter(
        lambda e: printed.append((e.alert_id, (e.alert.last_seen - T0).total_seconds())), live=live
    )
    for e in [
        event(1, "candidate", 1),
        event(1, "updated", 10),
        event(2, "candidate", 5),
        event(1, "updated", 30),
        event(1, "reviewed", 40),
    ]:
        printer(e)
    assert printed == after_events
    printer.finish()
    assert printed == after_events + at_finish
    printer.finish()
    assert len(printed) == 2


def test_camera_config_uses_the_configured_camera_or_a_new_one(context: AppContext) -> None:
    context.settings.cameras = [CameraConfig(name="gate", url="rtsp://cam/1", max_fps=2.0)]
    known = camera_config(context, "gate", "/clips/a.mp4", None)
    assert (known.url, known.max_fps) == ("/clips/a.mp4", 2.0)
    assert camera_config(context, "gate", "/clips/a.mp4", 8.0).max_fps == 8.0
    new = camera_config(context, "hall", "/clips/b.mp4", None)
    assert (new.name, new.max_fps) == ("hall", CameraConfig.model_fields["max_fps"].default)
    with pytest.raises(InputError, match="camera name 'bad name' is not valid"):
        camera_config(context, "bad name", "/clips/b.mp4", None)


NOT_VIDEOS = {
    "text": b"this is not a video\n" * 100,  # FFmpeg would render it as ANSI art
    "truncated_mp4": b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64,  # FFmpeg: "moov atom not found"
    "noise": bytes(range(256)) * 20,
}


@pytest.mark.shared
@pytest.mark.parametrize("content", NOT_VIDEOS.values(), ids=NOT_VIDEOS.keys())
def test_analyze_on_a_non_video_prints_only_the_clean_error(
    onnx_settings: Settings,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    env = settings_environment(onnx_settings)
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    capfd.readouterr()  # only what analyze prints counts
    result = runner.invoke(app, ["analyze", str(path), "--camera", "cam1"], env=env)
    # FFmpeg and OpenCV write to the process's file descriptors, not to sys.stderr: capfd sees them.
    raw = capfd.readouterr()
    assert result.exit_code == 3, result.output
    assert f"cannot read {path} as video" in result.output
    assert "Traceback" not in result.output
    printed = [line for line in (raw.out + raw.err).splitlines() if line.strip()]
    assert printed == [], printed  # no "[mov,mp4,...] moov atom not found", no "[ WARN:0@...]"
