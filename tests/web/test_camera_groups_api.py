"""Camera groups through the API: set on create and update, "default" when none is given,
validated (422 naming the field), audited, listed; a change of group alone leaves a running
camera running."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from web_fakes import FakeSupervisor

from vigil.db.models import AuditEvent, Camera
from vigil.domain.camera_groups import DEFAULT_CAMERA_GROUP
from vigil.domain.enums import Role


def _audit(env: Any, action: str) -> list[dict[str, Any]]:
    with env.context.db.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
    # every web action also names its credential (the session): not what is tested here
    return [{k: v for k, v in r.details.items() if k != "credential"} for r in rows]


def test_group_on_create_and_update_is_stored_listed_and_audited(env: Any) -> None:
    sup = env.client(Role.supervisor)
    north = sup.post(
        "/api/cameras",
        json={"name": "gate-1", "url": "rtsp://10.0.0.5/s", "group": "North district"},
    )
    assert north.status_code == 201, north.text
    plain = sup.post("/api/cameras", json={"name": "gate-2", "url": "rtsp://10.0.0.6/s"}).json()
    assert north.json()["group"] == "North district"
    assert plain["group"] == DEFAULT_CAMERA_GROUP
    r = sup.patch(f"/api/cameras/{plain['id']}", json={"group": "Südbahnhof"})
    assert r.status_code == 200 and r.json()["group"] == "Südbahnhof"
    listed = env.client(Role.operator).get("/api/cameras").json()
    assert [(c["name"], c["group"]) for c in listed] == [
        ("gate-1", "North district"),
        ("gate-2", "Südbahnhof"),
    ]
    with env.context.db.read() as s:
        stored = {n: g for n, g in s.execute(select(Camera.name, Camera.camera_group))}
    assert stored == {"gate-1": "North district", "gate-2": "Südbahnhof"}
    added = _audit(env, "camera.add")
    assert [a["group"] for a in added] == ["North district", DEFAULT_CAMERA_GROUP]
    assert _audit(env, "camera.update") == [{"group": [DEFAULT_CAMERA_GROUP, "Südbahnhof"]}]
    sup.patch(f"/api/cameras/{plain['id']}", json={"group": "Südbahnhof"})  # no change: no record
    assert len(_audit(env, "camera.update")) == 1


@pytest.mark.parametrize(
    "group",
    ["", "   ", "x" * 65, "North/South", "<b>", "a\nb", "North\tSouth"],
)
def test_a_bad_group_is_refused_naming_the_field(env: Any, group: str) -> None:
    sup = env.client(Role.supervisor)
    r = sup.post("/api/cameras", json={"name": "c1", "url": "rtsp://10.0.0.5/s", "group": group})
    assert r.status_code == 422 and "group" in r.text, r.text
    cam = sup.post("/api/cameras", json={"name": "c2", "url": "rtsp://10.0.0.5/s"}).json()
    r = sup.patch(f"/api/cameras/{cam['id']}", json={"group": group})
    assert r.status_code == 422 and "group" in r.text, r.text
    assert [c["group"] for c in sup.get("/api/cameras").json()] == [DEFAULT_CAMERA_GROUP]


def test_only_managers_set_a_group(env: Any) -> None:
    sup = env.client(Role.supervisor)
    cam = sup.post("/api/cameras", json={"name": "c1", "url": "rtsp://10.0.0.5/s"}).json()
    for role in (Role.operator, Role.maintainer):
        r = env.client(role).patch(f"/api/cameras/{cam['id']}", json={"group": "x"})
        assert r.status_code == 403, role
    assert sup.get(f"/api/cameras/{cam['id']}").json()["group"] == DEFAULT_CAMERA_GROUP


def test_a_group_change_alone_does_not_restart_a_running_camera(env_factory: Any) -> None:
    fake = FakeSupervisor()
    env = env_factory(supervisor=fake)
    sup = env.client(Role.supervisor)
    cam = sup.post("/api/cameras", json={"name": "c1", "url": "rtsp://10.0.0.5/s"}).json()
    sup.post(f"/api/cameras/{cam['id']}/start")
    assert fake.calls == ["start c1 5.0"]
    moved = sup.patch(f"/api/cameras/{cam['id']}", json={"group": "Harbour"}).json()
    assert moved["group"] == "Harbour" and moved["running"] is True
    assert fake.calls == ["start c1 5.0"]
    sup.patch(f"/api/cameras/{cam['id']}", json={"max_fps": 2, "group": "Harbour"})
    assert fake.calls[-2:] == ["stop c1", "start c1 2.0"]
