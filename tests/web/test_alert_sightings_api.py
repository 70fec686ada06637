"""The REST shape of an alert's sightings and the audited sighting-crop route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from vigil.db.models import AuditEvent
from vigil.domain.enums import Role
from vigil.imaging import encode_jpeg
from vigil.services.alerts import AlertStore
from vigil.services.gallery import ActiveGallery
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Match, SightingUpdate


def add_right_face(env: Any, alert_id: int, score: float = 0.97) -> None:
    """A second track of the same subject, in view at the same time, scoring higher."""
    ctx = env.context
    (entry,) = (
        ActiveGallery(ctx.db, ctx.cipher, env.settings, env.settings.model_pack).refresh().entries
    )
    now = utcnow()
    candidate = CandidateAlert(
        camera="cam1",
        first_seen=now - timedelta(seconds=1),
        last_seen=now,
        match=Match(entry, score),
        crop_jpeg=encode_jpeg(np.full((40, 40, 3), 200, np.uint8)),
        captured_monotonic=0.0,
        seen_at=now,
    )
    store = AlertStore(ctx.db, ctx.cipher, env.settings, env.bus)
    assert store.save_sighting(SightingUpdate(alert_id, 2, candidate, conflicting=True))


def test_an_alert_lists_its_sightings_best_first_and_flags_a_conflict(
    env: Any, make_alert: Callable[..., int]
) -> None:
    alert_id = make_alert()
    add_right_face(env, alert_id)
    op = env.client(Role.operator)
    body = op.get(f"/api/alerts/{alert_id}").json()
    assert body["score"] == 0.97 and body["conflicting_sightings"] is True
    assert [(x["ordinal"], x["score"], x["conflicting"]) for x in body["sightings"]] == [
        (2, 0.97, True),
        (1, 0.9, True),
    ]
    listed = op.get("/api/alerts").json()
    assert listed[0]["sightings"] == body["sightings"]
    means = []
    for sighting in body["sightings"]:
        r = op.get(sighting["crop_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.headers["cache-control"] == "no-store" and r.content[:2] == b"\xff\xd8"
        means.append(r.content)
    assert means[0] != means[1]  # each sighting has its own crop
    with env.context.db.read() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "biometric.view")).all()
    assert [(v.actor, v.details["what"], v.details["ordinal"]) for v in views] == [
        ("operator", "sighting crop", 2),
        ("operator", "sighting crop", 1),
    ]
    assert env.events[-1].kind == "updated" and len(env.events[-1].alert.sightings) == 2


def test_a_sighting_crop_of_another_alert_or_unknown_is_404(
    env: Any, make_alert: Callable[..., int]
) -> None:
    first, second = make_alert(), make_alert()
    op = env.client(Role.operator)
    sid = op.get(f"/api/alerts/{first}").json()["sightings"][0]["id"]
    for url in (
        f"/api/alerts/{second}/sightings/{sid}/crop",
        f"/api/alerts/{first}/sightings/999/crop",
    ):
        r = op.get(url)
        assert r.status_code == 404 and "has no sighting" in r.json()["message"]


def test_a_sighting_crop_needs_a_reviewer(env: Any, make_alert: Callable[..., int]) -> None:
    alert_id = make_alert()
    sid = env.client(Role.operator).get(f"/api/alerts/{alert_id}").json()["sightings"][0]["id"]
    assert env.client().get(f"/api/alerts/{alert_id}/sightings/{sid}/crop").status_code == 401


def test_a_reviewer_rejects_one_sighting_and_the_alert_shows_the_other_face(
    env: Any, make_alert: Callable[..., int]
) -> None:
    alert_id = make_alert()
    add_right_face(env, alert_id)  # here the higher-scoring face (0.97) is the wrong one
    op = env.client(Role.operator)
    url = f"/api/alerts/{alert_id}/sightings/2/reject"
    assert op.post(url, json={}).status_code == 422  # a reason is required
    assert op.post(url, json={"reason": "   "}).status_code == 422
    r = op.post(url, json={"reason": "another man, taller"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["score"] == 0.9 and body["status"] == "candidate"
    assert [(x["ordinal"], x["rejected"]) for x in body["sightings"]] == [(1, False), (2, True)]
    assert body["sightings"][1]["rejected_by"] == "operator"
    assert body["sightings"][1]["rejection_reason"] == "another man, taller"
    assert op.get(f"/api/alerts/{alert_id}").json() == body
    assert env.events[-1].kind == "updated" and env.events[-1].alert.score == 0.9
    again = op.post(url, json={"reason": "again"})
    assert again.status_code == 409 and "already rejected" in again.json()["message"]
    last = op.post(f"/api/alerts/{alert_id}/sightings/1/reject", json={"reason": "not him"})
    assert last.status_code == 409 and "reject the whole alert" in last.json()["message"]
    missing = op.post(f"/api/alerts/{alert_id}/sightings/7/reject", json={"reason": "x"})
    assert missing.status_code == 404
    assert env.client().post(url, json={"reason": "x"}).status_code == 401
