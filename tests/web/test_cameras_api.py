"""Camera management through the API, status from the supervisor, previews and metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from vigil.config import CameraConfig
from vigil.db.models import AuditEvent
from vigil.domain.enums import Role
from vigil.domain.events import AlertEvent
from vigil.sources.worker import CameraState, CameraStatus


class FakeSupervisor:
    """The runtime seam: records calls, reports a status per started camera."""

    def __init__(self) -> None:
        self.started: dict[str, CameraConfig] = {}
        self.calls: list[str] = []
        self.preview_blur = True

    def start_camera(self, camera: CameraConfig) -> None:
        self.calls.append(f"start {camera.name} {camera.max_fps}")
        self.started[camera.name] = camera

    def stop_camera(self, name: str) -> None:
        self.calls.append(f"stop {name}")
        self.started.pop(name)

    def statuses(self) -> list[CameraStatus]:
        now = datetime.now(UTC)
        return [
            CameraStatus(
                camera=name,
                url=cfg.url,
                kind="rtsp",
                state=CameraState.CONNECTED,
                since=now,
                fps_in=25.0,
                fps_analysed=cfg.max_fps,
                frames_in=1000,
                frames_analysed=200,
                drops=12,
                skipped_by_cap=788,
                reconnects=1,
                open_failures=0,
                last_error=None,
                last_frame_at=now,
                next_retry_at=None,
                max_fps=cfg.max_fps,
            )
            for name, cfg in self.started.items()
        ]

    def preview_jpeg(self, name: str) -> bytes | None:
        return b"\xff\xd8blurred" if self.preview_blur else b"\xff\xd8clear"

    def set_preview_blur(self, enabled: bool) -> None:
        self.preview_blur = enabled


@pytest.fixture()
def sup_env(env_factory: Any) -> tuple[Any, FakeSupervisor]:
    fake = FakeSupervisor()
    return env_factory(supervisor=fake), fake


def _camera_audit(env: Any) -> list[tuple[str, str]]:
    with env.context.db.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action.like("camera.%"))).all()
    return [(r.action, r.actor) for r in rows]


def test_camera_lifecycle(sup_env: tuple[Any, FakeSupervisor]) -> None:
    env, fake = sup_env
    sup = env.client(Role.supervisor)
    r = sup.post(
        "/api/cameras",
        json={"name": "gate-1", "url": "rtsp://cam:s3cret@10.0.0.5/stream", "max_fps": 4},
    )
    assert r.status_code == 201
    cam = r.json()
    assert cam["url"] == "rtsp://cam:***@10.0.0.5/stream" and cam["running"] is False
    assert sup.post("/api/cameras", json={"name": "gate-1", "url": "rtsp://x/y"}).status_code == 409

    started = sup.post(f"/api/cameras/{cam['id']}/start").json()
    assert (
        started["running"] is True
        and started["status"]["fps_in"] == 25.0
        and started["status"]["drops"] == 12
    )
    assert (
        fake.started["gate-1"].url == "rtsp://cam:s3cret@10.0.0.5/stream"
    )  # the worker gets the real URL

    op = env.client(Role.operator)
    listed = op.get("/api/cameras").json()
    assert [(c["name"], c["status"]["state"]) for c in listed] == [("gate-1", "connected")]
    assert op.post("/api/cameras", json={"name": "x", "url": "rtsp://x/y"}).status_code == 403

    edited = sup.patch(f"/api/cameras/{cam['id']}", json={"max_fps": 2}).json()
    assert edited["max_fps"] == 2 and fake.calls[-2:] == ["stop gate-1", "start gate-1 2.0"]

    assert sup.delete(f"/api/cameras/{cam['id']}").status_code == 204
    assert fake.calls[-1] == "stop gate-1" and op.get("/api/cameras").json() == []
    audit = _camera_audit(env)
    assert [a for a, _ in audit] == ["camera.add", "camera.start", "camera.update", "camera.remove"]
    with env.context.db.read() as s:
        assert all("s3cret" not in str(e.details) for e in s.scalars(select(AuditEvent)))


def test_preview_follows_the_audited_blur_setting(sup_env: tuple[Any, FakeSupervisor]) -> None:
    env, fake = sup_env
    admin = env.client(Role.admin)
    cam = admin.post("/api/cameras", json={"name": "c1", "url": "rtsp://h/x"}).json()
    assert admin.get(f"/api/cameras/{cam['id']}/preview").content == b"\xff\xd8blurred"
    assert admin.get("/api/settings").json() == {"preview_blur": True}
    assert admin.put("/api/settings", json={"preview_blur": False}).json() == {
        "preview_blur": False
    }
    assert fake.preview_blur is False
    assert (
        env.client(Role.operator).get(f"/api/cameras/{cam['id']}/preview").content
        == b"\xff\xd8clear"
    )
    with env.context.db.read() as s:
        change = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.change")).one()
    assert (change.actor, change.details) == ("admin", {"from": None, "to": "off"})
    assert (
        env.client(Role.supervisor).put("/api/settings", json={"preview_blur": True}).status_code
        == 403
    )


def test_start_without_a_runtime_is_503(env: Any) -> None:
    sup = env.client(Role.supervisor)
    cam = sup.post("/api/cameras", json={"name": "c1", "url": "rtsp://h/x"}).json()
    r = sup.post(f"/api/cameras/{cam['id']}/start")
    assert r.status_code == 503 and "vigil serve" in r.json()["message"]


def test_connection_test_with_a_real_file_and_a_dead_camera(env: Any, hamilton_clip: Path) -> None:
    admin, sup = env.client(Role.admin), env.client(Role.supervisor)
    clip = admin.post("/api/cameras", json={"name": "clip", "url": str(hamilton_clip)}).json()
    ok = admin.post(f"/api/cameras/{clip['id']}/test").json()
    assert ok["ok"] is True and (ok["width"], ok["height"]) == (640, 360)
    refused = sup.post(
        f"/api/cameras/{clip['id']}/test"
    ).json()  # supervisors may not probe server files
    assert refused["ok"] is False and "local file" in refused["message"]
    env.settings.sources.open_timeout_seconds = 2.0
    dead = admin.post(
        "/api/cameras", json={"name": "dead", "url": "rtsp://127.0.0.1:9/none"}
    ).json()
    r = admin.post(f"/api/cameras/{dead['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is False and r.json()["message"]


def test_a_url_can_be_tested_before_it_is_saved(env: Any, hamilton_clip: Path) -> None:
    admin, sup = env.client(Role.admin), env.client(Role.supervisor)
    ok = admin.post("/api/cameras/test", json={"url": str(hamilton_clip)}).json()
    assert ok["ok"] is True and (ok["width"], ok["height"]) == (640, 360)
    refused = sup.post("/api/cameras/test", json={"url": str(hamilton_clip)}).json()
    assert refused["ok"] is False and "local file" in refused["message"]
    env.settings.sources.open_timeout_seconds = 2.0
    dead = admin.post("/api/cameras/test", json={"url": "rtsp://u:hunter2@127.0.0.1:9/x"})
    assert dead.status_code == 200 and dead.json()["ok"] is False and dead.json()["message"]
    assert "hunter2" not in dead.text
    assert admin.get("/api/cameras").json() == []  # nothing was saved
    audit = admin.get("/api/audit", params={"action": "camera.test"}).json()
    items = audit["items"] if isinstance(audit, dict) else audit
    assert len(items) == 3 and all("hunter2" not in str(i) for i in items)
    bad = admin.post("/api/cameras/test", json={"url": ""})
    assert bad.status_code == 422


def test_metrics_from_statuses_and_alert_events(
    sup_env: tuple[Any, FakeSupervisor], public_alert: Any
) -> None:
    env, fake = sup_env
    fake.start_camera(CameraConfig(name="door", url="rtsp://h/x", max_fps=5))
    t = datetime.now(UTC)
    alert = public_alert(1, camera="door")
    env.bus.publish(AlertEvent.of("candidate", alert, t, time.monotonic() - 0.4))
    env.bus.publish(AlertEvent.of("updated", alert, t))
    env.bus.publish(AlertEvent.of("confirmed", alert.model_copy(update={"status": "confirmed"}), t))
    env.bus.publish(AlertEvent.purged(1, t))  # names no camera: not counted
    r = env.client(Role.auditor).get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in (
        'vigil_camera_fps_in{camera="door"} 25.0',
        'vigil_camera_fps_analysed{camera="door"} 5.0',
        'vigil_camera_drops_total{camera="door"} 12.0',
        'vigil_alerts_total{camera="door",kind="candidate"} 1.0',
        'vigil_alert_latency_seconds_count{camera="door"} 1.0',
        'vigil_alert_latency_seconds_bucket{camera="door",le="0.25"} 0.0',
        'vigil_alert_latency_seconds_bucket{camera="door",le="0.5"} 1.0',
        'vigil_alerts_total{camera="door",kind="confirmed"} 1.0',
        'vigil_reviews_total{decision="confirm"} 1.0',
    ):
        assert line in text, line
    # Login needed by default (server.metrics_public is false); see test_route_policy.
    assert env.client().get("/metrics").status_code == 401


def test_each_app_has_its_own_registry(env_factory: Any) -> None:
    a, b = env_factory(), env_factory()
    assert a.state.metrics.registry is not b.state.metrics.registry


@pytest.mark.slow
def test_real_supervisor_on_the_clip(
    env_factory: Any, hamilton_clip: Path, onnx_models: tuple
) -> None:
    """A real camera run (ONNX pack, the Hamilton clip) started and stopped through the API."""
    from vigil.runtime.supervisor import Supervisor

    det, emb = onnx_models
    env = env_factory(
        model_pack="onnx",
        onnx={"detector": str(det), "embedder": str(emb)},
        supervisor_factory=lambda ctx, bus: Supervisor(ctx, bus),
    )
    sup = env.client(Role.supervisor)
    cam = sup.post("/api/cameras", json={"name": "clip", "url": str(hamilton_clip), "max_fps": 10})
    cam_id = cam.json()["id"]
    assert sup.post(f"/api/cameras/{cam_id}/start").status_code == 200
    try:
        deadline = time.monotonic() + 120
        status: dict = {}
        while time.monotonic() < deadline:
            status = sup.get(f"/api/cameras/{cam_id}").json()["status"] or {}
            if status.get("frames_analysed", 0) >= 5:
                break
            time.sleep(0.2)
        assert status.get("frames_analysed", 0) >= 5, status
        preview = sup.get(f"/api/cameras/{cam_id}/preview")
        assert preview.status_code in (200, 404)
        if preview.status_code == 200:
            assert preview.content[:2] == b"\xff\xd8"
        text = sup.get("/metrics").text
        assert 'vigil_camera_frames_analysed_total{camera="clip"}' in text
    finally:
        assert sup.post(f"/api/cameras/{cam_id}/stop").status_code == 200
        env.state.supervisor.stop_all()
    with env.context.db.read() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert "camera.session_start" in actions and "camera.start" in actions


def test_public_metrics_name_no_camera_for_anonymous_scrapers(
    sup_env: tuple[Any, FakeSupervisor], public_alert: Any
) -> None:
    env, fake = sup_env
    env.settings.server.metrics_public = True
    fake.start_camera(CameraConfig(name="lobby-east", url="rtsp://h/x", max_fps=5))
    env.bus.publish(
        AlertEvent.of("candidate", public_alert(1, camera="lobby-east"), datetime.now(UTC))
    )
    anonymous = env.client().get("/metrics")
    assert anonymous.status_code == 200 and "vigil_" in anonymous.text
    assert "lobby-east" not in anonymous.text
    assert "lobby-east" in env.client(Role.auditor).get("/metrics").text
