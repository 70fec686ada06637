"""``vigil camera list|add|update`` through the CLI runner: groups set and changed, audited,
bad input refused with the rule, passwords masked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.cli.server import import_config_cameras
from vigil.config import CameraConfig, Settings, settings_environment
from vigil.context import AppContext, build_context
from vigil.db.models import AuditEvent, Camera
from vigil.domain.camera_groups import DEFAULT_CAMERA_GROUP


def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=settings_environment(settings))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _groups(context: AppContext) -> dict[str, str]:
    with context.db.read() as s:
        return {n: g for n, g in s.execute(select(Camera.name, Camera.camera_group))}


def test_add_and_update_set_the_group_audited(context: AppContext, settings: Settings) -> None:
    code, out = run(
        settings, "camera", "add", "gate", "rtsp://u:s3cret@10.0.0.5/s", "--group", "North side"
    )
    assert code == 0 and "group=North side" in out and "s3cret" not in out, out
    code, out = run(settings, "camera", "add", "yard", "rtsp://10.0.0.6/s", "--max-fps", "2")
    assert code == 0 and f"group={DEFAULT_CAMERA_GROUP}" in out, out
    assert _groups(context) == {"gate": "North side", "yard": DEFAULT_CAMERA_GROUP}
    code, out = run(settings, "camera", "update", "yard", "--group", "Harbour")
    assert code == 0 and "group=Harbour" in out and "max_fps=2" in out, out
    code, out = run(settings, "camera", "list")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == ["gate", "yard"], out
    assert "group=North side" in lines[0] and "group=Harbour" in lines[1]
    assert "s3cret" not in out
    assert _groups(context) == {"gate": "North side", "yard": "Harbour"}
    with context.db.read() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("camera.%"))).all()
    assert [(e.action, e.target) for e in events] == [
        ("camera.add", "gate"),
        ("camera.add", "yard"),
        ("camera.update", "yard"),
    ]
    assert events[0].details["group"] == "North side"
    assert events[2].details == {"group": [DEFAULT_CAMERA_GROUP, "Harbour"]}
    assert all(e.actor.startswith("cli") for e in events)
    assert all("s3cret" not in str(e.details) for e in events)


def test_bad_input_is_refused_with_the_rule(context: AppContext, settings: Settings) -> None:
    code, out = run(settings, "camera", "add", "gate", "rtsp://10.0.0.5/s", "--group", "a/b")
    assert code == 2 and "camera group: " in out and "North district" in out, out
    code, out = run(settings, "camera", "add", "gate", "rtsp://10.0.0.5/s", "--group", "x" * 65)
    assert code == 2 and "group" in out, out
    assert _groups(context) == {}
    code, out = run(settings, "camera", "add", "gate", "rtsp://10.0.0.5/s")
    assert code == 0, out
    code, out = run(settings, "camera", "update", "gate", "--group", "")
    assert code == 2 and "group" in out, out
    code, out = run(settings, "camera", "update", "nowhere", "--group", "Harbour")
    assert code == 4 and "no camera named 'nowhere'" in out and "vigil camera list" in out, out
    code, out = run(settings, "camera", "add", "gate", "rtsp://10.0.0.7/s")
    assert code == 5 and "already exists" in out, out
    assert _groups(context) == {"gate": DEFAULT_CAMERA_GROUP}


def test_a_camera_of_vigil_yaml_keeps_its_group(settings: Settings) -> None:
    camera = CameraConfig(name="pier", url="rtsp://10.0.0.8/s", group="Harbour")
    context = build_context(settings.model_copy(update={"cameras": [camera]}))
    try:
        assert import_config_cameras(context) == 1
        assert _groups(context) == {"pier": "Harbour"}
    finally:
        context.close()
    with pytest.raises(ValidationError, match="group"):
        CameraConfig(name="pier", url="rtsp://10.0.0.8/s", group="Harbour/North")
