"""Camera management through the API, status from the supervisor, previews and metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from web_fakes import FakeSupervisor

from vigil.config import CameraConfig
from vigil.db.models import AuditEvent
from vigil.domain.enums import Role
from vigil.domain.events import AlertEvent

# As tests/web/conftest.py's default: loopback allowed for the dead-camera probes on 127.0.0.1.
LOOPBACK_ALLOWED = {"allowed_networks": ["0.0.0.0/0", "::/0", "127.0.0.0/8"]}


@pytest.fixture()
def sup_env(env_factory: Any) -> tuple[Any, FakeSupervisor]:
    fake = FakeSupervisor()
    return env_factory(supervisor=fake), fake


def _camera_audit(env: Any) -> list[tuple[str, str]]:
    with env.context.db.read() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("camera.%")).order_by(AuditEvent.id)
        ).all()
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
    assert (
        sup.post("/api/cameras", json={"name": "gate-1", "url": "rtsp://10.0.0.6/y"}).status_code
        == 409
    )

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
    assert (
        op.post("/api/cameras", json={"name": "x", "url": "rtsp://10.0.0.6/y"}).status_code == 403
    )

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
    cam = admin.post("/api/cameras", json={"name": "c1", "url": "rtsp://10.0.0.7/x"}).json()
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
    details = dict(change.details)
    assert details.pop("credential").startswith("session:")  # every web action names it
    assert (change.actor, details) == ("admin", {"from": None, "to": "off"})
    assert (
        env.client(Role.supervisor).put("/api/settings", json={"preview_blur": True}).status_code
        == 403
    )


def _unblurred_previews(env: Any) -> list[tuple[str, str]]:
    with env.context.db.read() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "camera.preview_unblurred")
        ).all()
    return [(r.actor, r.target) for r in rows]


def test_each_unblurred_preview_is_audited(sup_env: tuple[Any, FakeSupervisor]) -> None:
    """Who saw which camera unblurred, and when: one audit event per preview served."""
    env, _fake = sup_env
    admin, op = env.client(Role.admin), env.client(Role.operator)
    cams = [
        admin.post("/api/cameras", json={"name": n, "url": "rtsp://192.0.2.8/x"}).json()
        for n in "ab"
    ]
    assert op.get(f"/api/cameras/{cams[0]['id']}/preview").status_code == 200
    assert _unblurred_previews(env) == []  # blurred previews are not audited one by one
    admin.put("/api/settings", json={"preview_blur": False})
    for client, cam in ((op, cams[0]), (op, cams[0]), (admin, cams[1])):
        assert client.get(f"/api/cameras/{cam['id']}/preview").content == b"\xff\xd8clear"
    assert _unblurred_previews(env) == [("operator", "a"), ("operator", "a"), ("admin", "b")]
    with env.context.db.read() as s:
        shown = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "camera.preview_unblurred")
        ).first()
    assert shown is not None and shown.ts is not None
    admin.put("/api/settings", json={"preview_blur": True})
    assert op.get(f"/api/cameras/{cams[0]['id']}/preview").content == b"\xff\xd8blurred"
    assert len(_unblurred_previews(env)) == 3


def test_a_preview_taken_while_blur_is_switched_off_is_audited(
    sup_env: tuple[Any, FakeSupervisor],
) -> None:
    """The setting flips between the check and the frame: the preview is still audited."""
    env, fake = sup_env
    admin = env.client(Role.admin)
    cam = admin.post("/api/cameras", json={"name": "c1", "url": "rtsp://192.0.2.8/x"}).json()

    def flip_then_shoot(name: str) -> bytes | None:
        fake.preview_blur = False
        return b"\xff\xd8clear"

    fake.preview_jpeg = flip_then_shoot  # type: ignore[method-assign]
    assert admin.get(f"/api/cameras/{cam['id']}/preview").content == b"\xff\xd8clear"
    assert _unblurred_previews(env) == [("admin", "c1")]


def test_start_without_a_runtime_is_503(env: Any) -> None:
    sup = env.client(Role.supervisor)
    cam = sup.post("/api/cameras", json={"name": "c1", "url": "rtsp://10.0.0.7/x"}).json()
    r = sup.post(f"/api/cameras/{cam['id']}/start")
    assert r.status_code == 503 and "vigil serve" in r.json()["message"]


def _clip_env(env_factory: Any, hamilton_clip: Path, **overrides: Any) -> Any:
    """An environment whose media folder holds the Hamilton clip (and loopback is allowed)."""
    sources = {**LOOPBACK_ALLOWED, "media_dir": str(hamilton_clip.parent)}
    return env_factory(sources=sources, **overrides)


def test_connection_test_with_a_real_file_and_a_dead_camera(
    env_factory: Any, hamilton_clip: Path
) -> None:
    env = _clip_env(env_factory, hamilton_clip)
    admin, sup = env.client(Role.admin), env.client(Role.supervisor)
    clip = admin.post("/api/cameras", json={"name": "clip", "url": hamilton_clip.name}).json()
    assert clip["url"] == str(hamilton_clip.resolve())  # stored as the resolved path
    ok = admin.post(f"/api/cameras/{clip['id']}/test").json()
    assert ok["ok"] is True and (ok["width"], ok["height"]) == (640, 360)
    by_sup = sup.post(f"/api/cameras/{clip['id']}/test").json()  # media files: any manager
    assert by_sup["ok"] is True
    env.settings.sources.open_timeout_seconds = 2.0
    dead = admin.post(
        "/api/cameras", json={"name": "dead", "url": "rtsp://127.0.0.1:9/none"}
    ).json()
    r = admin.post(f"/api/cameras/{dead['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is False and r.json()["message"]


def test_a_url_can_be_tested_before_it_is_saved(env_factory: Any, hamilton_clip: Path) -> None:
    env = _clip_env(env_factory, hamilton_clip)
    admin, sup = env.client(Role.admin), env.client(Role.supervisor)
    ok = admin.post("/api/cameras/test", json={"url": str(hamilton_clip)}).json()
    assert ok["ok"] is True and (ok["width"], ok["height"]) == (640, 360)
    refused = sup.post("/api/cameras/test", json={"url": "/etc/hostname"})
    assert refused.status_code == 400 and "media folder" in refused.json()["message"]
    env.settings.sources.open_timeout_seconds = 2.0
    dead = admin.post("/api/cameras/test", json={"url": "rtsp://u:hunter2@127.0.0.1:9/x"})
    assert dead.status_code == 200 and dead.json()["ok"] is False and dead.json()["message"]
    assert "hunter2" not in dead.text
    assert admin.get("/api/cameras").json() == []  # nothing was saved
    audit = admin.get("/api/audit", params={"action": "camera.test"}).json()
    items = audit["items"] if isinstance(audit, dict) else audit
    assert len(items) == 3 and all("hunter2" not in str(i) for i in items)  # refusal audited
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
    env = _clip_env(
        env_factory,
        hamilton_clip,
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
        assert preview.status_code == 200  # five frames analysed: there is a latest frame
        assert preview.content[:2] == b"\xff\xd8"
        text = sup.get("/metrics").text
        assert 'vigil_camera_frames_analysed_total{camera="clip"}' in text
    finally:
        assert sup.post(f"/api/cameras/{cam_id}/stop").status_code == 200
        env.state.supervisor.stop_all()
    with env.context.db.read() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert "camera.session_start" in actions and "camera.start" in actions


def _media_folder(root: Path) -> Path:
    """A media folder holding a clip, a sub-folder and symbolic links that point out of it."""
    media = root / "media"
    (media / "sub").mkdir(parents=True)
    (media / "clip.mp4").write_bytes(b"not really a video")
    (media / "escape.mp4").symlink_to("/etc/hostname")
    (media / "sub" / "up").symlink_to(root)
    return media


@pytest.fixture()
def policy_env(env_factory: Any, tmp_path: Path) -> tuple[Any, FakeSupervisor, Path]:
    """The default network policy (loopback denied) and a media folder (see _media_folder)."""
    media = _media_folder(tmp_path)
    fake = FakeSupervisor()
    env = env_factory(supervisor=fake, sources={"media_dir": str(media)})
    return env, fake, media


@pytest.fixture(scope="module")
def shared_policy_env(
    module_env_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, FakeSupervisor, Path]:
    """Like policy_env, one for the tables of a module (each row uses its own camera name)."""
    media = _media_folder(tmp_path_factory.mktemp("policy"))
    fake = FakeSupervisor()
    env = module_env_factory(supervisor=fake, sources={"media_dir": str(media)})
    env.sup = env.token_client(Role.supervisor)  # one client: logins are throttled per source
    return env, fake, media


SCHEMA_REFUSALS = {"expected rtsp://", "with a host"}
REFUSED_URLS = [
    # (id, url, fragment of the 400 message)
    ("file-outside-media", "/etc/shadow", "media folder"),
    ("missing-file-outside-media", "/etc/does-not-exist", "media folder"),
    ("dot-dot-escape", "../../etc/passwd", "media folder"),
    ("dot-dot-escape-absolute", "{media}/sub/../../outside.mp4", "media folder"),
    ("symlink-escape", "escape.mp4", "media folder"),
    ("symlinked-folder-escape", "sub/up/secret.mp4", "media folder"),
    ("media-folder-itself", "{media}", "media folder"),
    ("file-url", "file:///etc/passwd", "media folder"),
    ("ftp", "ftp://10.0.0.5/video.mp4", "expected rtsp://"),  # refused by the schema: 422
    ("gopher", "gopher://10.0.0.5/", "expected rtsp://"),
    ("loopback-v4", "rtsp://127.0.0.1:8554/x", "127.0.0.0/8"),
    ("loopback-v4-other", "http://127.1.2.3:5000/", "127.0.0.0/8"),
    ("loopback-v6", "rtsp://[::1]:8554/x", "::1/128"),
    ("v4-mapped-loopback", "rtsp://[::ffff:127.0.0.1]/x", "127.0.0.0/8"),
    ("link-local-metadata", "http://169.254.169.254/latest/meta-data/", "169.254.0.0/16"),
    ("link-local-v6", "rtsp://[fe80::1]/x", "fe80::/10"),
    ("unspecified", "rtsp://0.0.0.0:8554/x", "0.0.0.0/8"),
    ("localhost-name", "http://localhost:8000/api/users", "127.0.0.0/8"),
    ("no-host", "rtsp:///x", "with a host"),
]


@pytest.mark.parametrize(
    ("url", "fragment"), [c[1:] for c in REFUSED_URLS], ids=[c[0] for c in REFUSED_URLS]
)
def test_refused_camera_urls(
    shared_policy_env: tuple[Any, FakeSupervisor, Path], url: str, fragment: str
) -> None:
    env, fake, media = shared_policy_env
    url = url.format(media=media)
    sup = env.sup
    status = 422 if fragment in SCHEMA_REFUSALS else 400  # the schema, or the source policy
    added = sup.post("/api/cameras", json={"name": "refused", "url": url})
    assert added.status_code == status and fragment in added.json()["message"], added.text
    tested = sup.post("/api/cameras/test", json={"url": url})
    assert tested.status_code == status and fragment in tested.json()["message"], tested.text
    ok = sup.post("/api/cameras", json={"name": "fixed", "url": "rtsp://10.0.0.5/x"})
    ok_id = ok.json()["id"] if ok.status_code == 201 else None
    cam_id = ok_id or next(c["id"] for c in sup.get("/api/cameras").json() if c["name"] == "fixed")
    edited = sup.patch(f"/api/cameras/{cam_id}", json={"url": url})
    assert edited.status_code == status and fragment in edited.json()["message"]
    assert {c["name"]: c["url"] for c in sup.get("/api/cameras").json()}.get("refused") is None
    assert sup.get(f"/api/cameras/{cam_id}").json()["url"] == "rtsp://10.0.0.5/x"
    assert not any(c.startswith("start refused") for c in fake.calls)


def test_refusals_do_not_tell_whether_a_file_exists(
    policy_env: tuple[Any, FakeSupervisor, Path],
) -> None:
    env, _fake, _media = policy_env
    sup = env.client(Role.supervisor)
    answers = [
        sup.post("/api/cameras/test", json={"url": url}) for url in ("/etc/shadow", "/etc/nope")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()


ALLOWED_URLS = [
    # (id, url, stored url; {media} is the media folder)
    ("relative-in-media", "clip.mp4", "{media}/clip.mp4"),
    ("absolute-in-media", "{media}/clip.mp4", "{media}/clip.mp4"),
    ("dot-dot-inside-media", "{media}/sub/../clip.mp4", "{media}/clip.mp4"),
    ("file-url-in-media", "file://{media}/clip.mp4", "{media}/clip.mp4"),
    ("missing-file-in-media", "later.mp4", "{media}/later.mp4"),
    ("rtsp-private", "rtsp://10.0.0.5:554/stream", "rtsp://10.0.0.5:554/stream"),
    ("rtsps", "rtsps://192.0.2.10/live", "rtsps://192.0.2.10/live"),
    ("http-mjpeg", "http://192.168.1.20/mjpeg", "http://192.168.1.20/mjpeg"),
    ("https-v6", "https://[2001:db8::7]/mjpeg", "https://[2001:db8::7]/mjpeg"),
]


@pytest.mark.parametrize(
    ("url", "stored"), [c[1:] for c in ALLOWED_URLS], ids=[c[0] for c in ALLOWED_URLS]
)
def test_allowed_camera_urls(
    shared_policy_env: tuple[Any, FakeSupervisor, Path], url: str, stored: str
) -> None:
    env, fake, media = shared_policy_env
    real = media.resolve()
    name = f"ok-{len(fake.started)}-{abs(hash(url)) % 10**6}"
    sup = env.sup
    r = sup.post("/api/cameras", json={"name": name, "url": url.format(media=media)})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == stored.format(media=real)
    assert sup.post(f"/api/cameras/{r.json()['id']}/start").status_code == 200
    assert fake.started[name].url == stored.format(media=real)  # what was checked is opened


def test_a_stored_camera_is_checked_again_before_it_starts(
    policy_env: tuple[Any, FakeSupervisor, Path],
) -> None:
    """A row written before the policy (or by another path) cannot start or be probed."""
    from vigil.services.cameras import CameraInput, CameraService

    env, fake, _media = policy_env
    legacy = CameraService(env.context.db).add(CameraInput("old", "/etc/shadow"), actor="t")
    sup = env.client(Role.supervisor)
    started = sup.post(f"/api/cameras/{legacy.id}/start")
    assert started.status_code == 400 and "media folder" in started.json()["message"]
    tested = sup.post(f"/api/cameras/{legacy.id}/test")
    assert tested.status_code == 400 and "media folder" in tested.json()["message"]
    assert fake.calls == []  # the runtime never saw it


def test_cameras_of_the_operators_config_file_are_trusted(env_factory: Any, tmp_path: Path) -> None:
    from vigil.services.cameras import CameraInput, CameraService

    fake = FakeSupervisor()
    yaml_cam = CameraConfig(name="lobby", url=str(tmp_path / "lobby.mp4"))
    env = env_factory(supervisor=fake, cameras=[yaml_cam.model_dump()])
    stored = CameraService(env.context.db).add(
        CameraInput(yaml_cam.name, yaml_cam.url), actor="config"
    )
    sup = env.client(Role.supervisor)
    assert sup.post(f"/api/cameras/{stored.id}/start").status_code == 200
    assert fake.started["lobby"].url == yaml_cam.url
    other = sup.post("/api/cameras", json={"name": "copy", "url": yaml_cam.url})
    assert other.status_code == 400  # the same path under another name is not trusted


def test_an_admin_can_allow_a_local_network(env_factory: Any) -> None:
    env = env_factory(
        sources={"allowed_networks": ["0.0.0.0/0", "::/0", "127.0.0.1/32"]},
    )
    sup = env.client(Role.supervisor)
    assert (
        sup.post("/api/cameras", json={"name": "a", "url": "rtsp://127.0.0.1/x"}).status_code == 201
    )
    still = sup.post("/api/cameras", json={"name": "b", "url": "rtsp://127.0.0.2/x"})
    assert still.status_code == 400 and "127.0.0.0/8" in still.json()["message"]


def test_serve_startup_checks_cameras_not_in_the_config(
    policy_env: tuple[Any, FakeSupervisor, Path],
) -> None:
    from vigil.cli.server import start_cameras
    from vigil.services.cameras import CameraInput, CameraService

    env, fake, media = policy_env
    service = CameraService(env.context.db)
    service.add(CameraInput("old", "/etc/shadow"), actor="t")  # stored before the policy
    service.add(CameraInput("good", str(media / "clip.mp4")), actor="t")
    assert start_cameras(env.context, fake) == ["good"]
    assert list(fake.started) == ["good"]


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


def test_a_maintainer_restarts_a_camera_in_one_step(sup_env: tuple[Any, FakeSupervisor]) -> None:
    env, fake = sup_env
    cam = (
        env.client(Role.supervisor)
        .post("/api/cameras", json={"name": "dock", "url": "rtsp://10.0.0.8/s", "max_fps": 3})
        .json()
    )
    maintainer = env.client(Role.maintainer)
    assert maintainer.post(f"/api/cameras/{cam['id']}/restart").json()["running"] is True
    assert fake.calls == ["start dock 3.0"]  # not running: nothing to stop first
    restarted = maintainer.post(f"/api/cameras/{cam['id']}/restart")
    assert restarted.status_code == 200 and restarted.json()["running"] is True
    assert fake.calls[-2:] == ["stop dock", "start dock 3.0"]
    assert _camera_audit(env)[-2:] == [("camera.restart", "maintainer")] * 2
    assert env.client(Role.operator).post(f"/api/cameras/{cam['id']}/restart").status_code == 403
