"""Authorizations, watchlists and subjects through the API; real enrollment on real photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from vigil.db.models import Alert, AuditEvent, Template
from vigil.domain.enums import Role

AUTH = {
    "reference": "CASE 2026/0042",
    "purpose": "missing_person",
    "legal_basis": "Missing Persons Act s.12",
    "authority": "District Court of Example",
    "expires_at": "2099-01-01T00:00:00Z",
    "cameras": ["gate-1"],
}


def _setup(env: Any) -> tuple[Any, int, int]:
    sup = env.client(Role.supervisor)
    auth = sup.post("/api/authorizations", json=AUTH)
    assert auth.status_code == 201, auth.text
    wl = sup.post(
        "/api/watchlists", json={"name": "missing", "authorization_reference": AUTH["reference"]}
    )
    assert wl.status_code == 201, wl.text
    return sup, auth.json()["id"], wl.json()["id"]


def test_authorization_and_watchlist_flow(env: Any, make_alert: Callable[..., int]) -> None:
    sup, auth_id, wl_id = _setup(env)
    auth = sup.get(f"/api/authorizations/{auth_id}").json()
    assert (auth["reference"], auth["status"], auth["cameras"], auth["created_by"]) == (
        "CASE 2026/0042",
        "active",
        ["gate-1"],
        "supervisor",
    )
    assert sup.post("/api/authorizations", json=AUTH).status_code == 409
    listed = env.client(Role.auditor).get("/api/watchlists").json()
    assert [(w["name"], w["purpose"], w["subjects"]) for w in listed] == [
        ("missing", "missing_person", 0)
    ]
    assert env.client(Role.operator).get("/api/authorizations").status_code == 403

    files = [("photos", ("a.jpg", _tiny_jpeg(), "image/jpeg"))]
    enrolled = sup.post(f"/api/watchlists/{wl_id}/subjects", data={"name": "Jane Roe"}, files=files)
    assert enrolled.status_code == 201
    subject_id = enrolled.json()["subject"]["id"]
    photo = sup.get(f"/api/subjects/{subject_id}/photo")
    assert photo.status_code == 200 and photo.content[:2] == b"\xff\xd8"
    with env.context.db.read() as s:
        stored = s.scalars(select(Template)).all()
    assert stored and all(
        t.encrypted and t.photo and t.photo[:4] == b"VGL1" for t in stored
    )  # sealed at rest

    # The audit names the subject by a pseudonymous reference that an auditor sees resolved ...
    auditor = env.client(Role.auditor)
    (enrolment,) = auditor.get("/api/audit", params={"action": "subject.enroll"}).json()
    ref = enrolment["target"].removeprefix("subject:")
    assert ref.startswith("ps-") and "Jane" not in str(enrolment["details"])
    assert enrolment["subjects"] == {ref: "missing/Jane Roe"}

    purged = sup.post(f"/api/authorizations/{auth_id}/revoke").json()
    assert purged == {"alerts": 0, "templates": 1, "subjects": 1}
    # ... until the purge destroys its key.
    (enrolment,) = auditor.get("/api/audit", params={"action": "subject.enroll"}).json()
    assert enrolment["subjects"] == {ref: "purged subject"}
    assert sup.get(f"/api/authorizations/{auth_id}").json()["status"] == "revoked"
    again = sup.post(f"/api/authorizations/{auth_id}/refuse")
    assert again.status_code == 409 and "already revoked" in again.json()["message"]


def test_refusal_purges_alerts_too(env: Any, make_alert: Callable[..., int]) -> None:
    alert_id = make_alert()
    sup = env.client(Role.supervisor)
    auth = sup.get("/api/authorizations").json()[0]
    purged = sup.post(f"/api/authorizations/{auth['id']}/refuse").json()
    assert purged["alerts"] == 1 and purged["subjects"] == 1
    assert sup.get(f"/api/alerts/{alert_id}").status_code == 404
    with env.context.db.read() as s:
        assert s.scalar(select(func.count(Alert.id))) == 0
    assert [(e.kind, e.alert) for e in env.events if e.alert_id == alert_id][-1] == (
        "purged",
        None,
    )


def test_removing_a_subject_announces_its_alerts_as_purged(
    env: Any, make_alert: Callable[..., int]
) -> None:
    alert_id = make_alert()
    sup = env.client(Role.supervisor)
    subject_id = sup.get(f"/api/alerts/{alert_id}").json()["subject_id"]
    assert sup.delete(f"/api/subjects/{subject_id}").json()["alerts"] == 1
    purged = [e for e in env.events if e.kind == "purged"]
    assert [(e.alert_id, e.alert) for e in purged] == [(alert_id, None)]


def test_remove_subject(env: Any) -> None:
    sup, _auth_id, wl_id = _setup(env)
    files = [("photos", ("a.jpg", _tiny_jpeg(), "image/jpeg"))]
    subject_id = sup.post(
        f"/api/watchlists/{wl_id}/subjects", data={"name": "J"}, files=files
    ).json()["subject"]["id"]
    removed = sup.delete(f"/api/subjects/{subject_id}")
    assert removed.json() == {"alerts": 0, "templates": 1, "subjects": 1}
    assert sup.get(f"/api/watchlists/{wl_id}/subjects").json() == []
    assert sup.get(f"/api/subjects/{subject_id}/photo").status_code == 404
    with env.context.db.read() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
    assert {"authorization.create", "watchlist.create", "subject.enroll", "subject.delete"} <= set(
        actions
    )


def test_audit_log_filters_for_auditors(env: Any) -> None:
    _setup(env)
    auditor = env.client(Role.auditor)
    everything = auditor.get("/api/audit").json()
    assert everything[0]["id"] > everything[-1]["id"]  # newest first
    by_action = auditor.get("/api/audit", params={"action": "authorization"}).json()
    assert [e["action"] for e in by_action] == ["authorization.create"]
    by_actor = auditor.get(
        "/api/audit", params={"actor": "supervisor", "action": "user.login"}
    ).json()
    assert len(by_actor) == 1 and by_actor[0]["target"] == "supervisor"
    newest = everything[0]
    before = auditor.get("/api/audit", params={"before_id": newest["id"], "limit": 1}).json()
    assert [e["id"] for e in before] == [everything[1]["id"]]
    future = auditor.get("/api/audit", params={"since": "2099-01-01T00:00:00Z"}).json()
    assert future == []
    swapped = auditor.get(
        "/api/audit", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert swapped.status_code == 400 and "until" in swapped.json()["message"]
    assert env.client(Role.supervisor).get("/api/audit").status_code == 403


def test_outbound_config_is_shown_without_secrets(env_factory: Any) -> None:
    env = env_factory(
        alerts_out={
            "webhooks": ["https://user:pw@soc.example/hook?key=abc"],
            "webhook_secret": "s" * 40,
            "mqtt_host": "mq.local",
        }
    )
    body = env.client(Role.admin).get("/api/outbound").json()
    assert body["webhooks"] == ["https://soc.example/hook"] and body["webhook_signed"] is True
    assert body["mqtt_host"] == "mq.local" and "s" * 40 not in str(body)


def _tiny_jpeg() -> bytes:
    import numpy as np

    from vigil.imaging import encode_jpeg

    return encode_jpeg(np.full((64, 64, 3), 100, np.uint8))


def _gradient_jpeg() -> bytes:
    import numpy as np

    from vigil.imaging import encode_jpeg

    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    return encode_jpeg(np.dstack([ramp, ramp[::-1], ramp]).copy())


@pytest.mark.slow
def test_real_enrollment_gives_per_photo_feedback(env_factory: Any, photos: Path) -> None:
    """The real validator (default dlib pack) on real photos: two good faces, two refusals."""
    env = env_factory()
    env.state.validator_factory = None  # the real FacePhotoValidator
    sup, _auth_id, wl_id = _setup(env)
    files = [
        ("photos", ("obama.jpg", (photos / "obama.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("two_people.jpg", (photos / "two_people.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("obama2.jpg", (photos / "obama2.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("wall.jpg", _gradient_jpeg(), "image/jpeg")),
    ]
    r = sup.post(f"/api/watchlists/{wl_id}/subjects", data={"name": "Barack Obama"}, files=files)
    assert r.status_code == 201, r.text
    feedback = {p["photo"]: p for p in r.json()["photos"]}
    assert (
        feedback["obama.jpg"]["accepted"] is True and 0.0 < feedback["obama.jpg"]["quality"] <= 1.0
    )
    assert feedback["two_people.jpg"]["reason"] == "several_faces"
    assert feedback["obama2.jpg"]["accepted"] is True
    assert (
        feedback["wall.jpg"]["reason"] == "no_face" and "no face" in feedback["wall.jpg"]["message"]
    )
    assert (r.json()["accepted"], r.json()["rejected"], r.json()["subject"]["templates"]) == (
        2,
        2,
        2,
    )
