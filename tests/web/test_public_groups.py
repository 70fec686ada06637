"""The public page by camera group: a two-group deployment (plus a camera removed since) with
its figures checked per group and month, the "< 5" rule applied in each cell (a figure hidden in
its group though the total would show), deployment-wide figures apart, no camera name, and the
signature still covering it all."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from vigil.accountability.public_report import HIDDEN, verify_document
from vigil.accountability.signing import PublicVerifier, settings_signer
from vigil.db.models import Alert, FaceCount
from vigil.domain.camera_groups import REMOVED_CAMERAS
from vigil.domain.enums import AlertStatus, Role
from vigil.errors import IntegrityError
from vigil.timeutil import utcnow

CAMERAS = {"cam-north-a": "North", "cam-north-b": "North", "cam-south-a": "South district"}
FACES = {"cam-north-a": 100, "cam-north-b": 20, "cam-south-a": 3, "cam-gone-x": 7}
# North: 3 alerts, 1 confirmed; South: 6 alerts, 5 rejected (9 in all: a total would show 9)
ALERTS = {"cam-north-a": 2, "cam-north-b": 1, "cam-south-a": 6}


def _seed(env: Any, alert_store: Callable[..., int]) -> None:
    sup = env.client(Role.supervisor)
    for name, group in CAMERAS.items():
        body = {"name": name, "url": "rtsp://10.0.0.5/s", "group": group}
        assert sup.post("/api/cameras", json=body).status_code == 201
    ids = {cam: [alert_store(env, cam) for _ in range(n)] for cam, n in ALERTS.items()}
    minute = utcnow().replace(second=0, microsecond=0)
    with env.context.db.write() as s:
        s.execute(
            update(Alert)
            .where(Alert.id == ids["cam-north-a"][0])
            .values(status=AlertStatus.confirmed)
        )
        s.execute(
            update(Alert)
            .where(Alert.id.in_(ids["cam-south-a"][:5]))
            .values(status=AlertStatus.rejected)
        )
        for camera, faces in FACES.items():  # cam-gone-x: counted, then removed from the table
            s.add(FaceCount(camera=camera, minute=minute, faces=faces, tracks=1))


@pytest.fixture()
def published(env_factory: Any, alert_store: Callable[..., int]) -> tuple[Any, str]:
    env = env_factory(server={"public_report": True})
    _seed(env, alert_store)
    r = env.client().get("/public/transparency.json")
    assert r.status_code == 200, r.text
    return env, r.text


def _figures(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in payload["groups"]}


def test_figures_per_group_with_small_counts_hidden_per_cell(published: tuple[Any, str]) -> None:
    env, text = published
    payload = verify_document(text, PublicVerifier(settings_signer(env.settings).public))
    groups = _figures(payload)
    assert list(groups) == ["North", "South district", REMOVED_CAMERAS]
    assert {g: groups[g]["cameras"] for g in groups} == {
        "North": 2,
        "South district": 1,
        REMOVED_CAMERAS: None,
    }
    this_month = {g: groups[g]["months"][-1] for g in groups}
    assert {m["month"] for m in this_month.values()} == {f"{utcnow():%Y-%m}"}
    assert this_month["North"]["faces_processed"] == 120
    assert this_month["North"]["alerts"] == {
        "candidate": HIDDEN,
        "confirmed": HIDDEN,
        "rejected": 0,
    }
    assert this_month["South district"]["faces_processed"] == HIDDEN  # 3 in its own cell
    assert this_month["South district"]["alerts"] == {
        "candidate": 6,
        "confirmed": 0,
        "rejected": 5,
    }
    assert this_month[REMOVED_CAMERAS]["faces_processed"] == 7
    assert this_month[REMOVED_CAMERAS]["alerts"] == {"candidate": 0, "confirmed": 0, "rejected": 0}
    for group in groups.values():  # earlier months: nothing happened, shown as 0
        assert group["months"][0]["faces_processed"] == 0
        assert group["months"][0]["alerts"]["candidate"] == 0
        assert len(group["months"]) == len(payload["deployment"])


def test_deployment_wide_figures_are_not_per_group(published: tuple[Any, str]) -> None:
    _env, text = published
    payload = json.loads(text)["payload"]
    for group in payload["groups"]:
        for month in group["months"]:
            assert set(month) == {"month", "faces_processed", "alerts"}
    month = payload["deployment"][-1]
    assert month["authorizations"] == [
        {"purpose": "missing_person", "authority": "District Court", "count": sum(ALERTS.values())}
    ]
    assert "maintenance_hours" in month and "retention_deletions_total" in month
    assert "not per group" in payload["deployment_note"]


def test_the_page_shows_groups_and_no_camera_name(published: tuple[Any, str]) -> None:
    env, text = published
    html = env.client().get("/public/transparency").text
    for body in (text, html):
        assert not [name for name in FACES if name in body]
    assert "Camera group: North (2 cameras)" in html
    assert "Camera group: South district (1 camera)" in html
    assert f"Camera group: {REMOVED_CAMERAS}<" in html
    assert "belong to no camera" in html


def test_a_copy_with_one_group_cell_altered_fails_verification(
    published: tuple[Any, str],
) -> None:
    env, text = published
    doc = json.loads(text)
    south = _figures(doc["payload"])["South district"]
    south["months"][-1]["faces_processed"] = 0
    with pytest.raises(IntegrityError, match="altered"):
        verify_document(json.dumps(doc), PublicVerifier(settings_signer(env.settings).public))
