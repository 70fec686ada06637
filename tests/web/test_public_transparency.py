"""The public transparency page: off by default (404), anonymous when on, monthly aggregates
with small counts hidden, signed JSON, and nothing that names or shows a person."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from sqlalchemy import select, update

from vigil.accountability.public_report import verify_document
from vigil.accountability.signing import PublicVerifier, settings_signer
from vigil.accountability.threshold import current_threshold, enrolled_now
from vigil.db.models import Alert, Authorization, Camera, FaceCount, Subject, Watchlist
from vigil.domain.camera_groups import DEFAULT_CAMERA_GROUP
from vigil.domain.enums import AlertStatus, Role
from vigil.services.cameras import CameraInput, CameraService
from vigil.timeutil import utcnow

ALERTS = 6  # >= 5: published as is; the one rejected alert is published as "< 5"


def test_off_by_default_is_404(env) -> None:
    anon = env.client()
    assert anon.get("/public/transparency").status_code == 404
    r = anon.get("/public/transparency.json")
    assert r.status_code == 404 and "public_report" in r.text


def _seed(env, alert_store: Callable[..., int]) -> list[int]:
    CameraService(env.context.db).add(CameraInput("cam-north", "rtsp://10.0.0.5/s"), actor="t")
    ids = [alert_store(env, "cam-north") for _ in range(ALERTS)]
    with env.context.db.write() as s:
        s.execute(update(Alert).where(Alert.id == ids[0]).values(status=AlertStatus.rejected))
        minute = utcnow().replace(second=0, microsecond=0)
        s.add(FaceCount(camera="cam-north", minute=minute, faces=1234, tracks=50))
    return ids


def _month(doc: dict) -> dict:
    [group] = doc["payload"]["groups"]  # cameras given no group are in the default one
    assert (group["group"], group["cameras"]) == (DEFAULT_CAMERA_GROUP, 1)
    return group["months"][-1]


def test_anonymous_reads_signed_figures(env_factory, alert_store) -> None:
    env = env_factory(server={"public_report": True})
    _seed(env, alert_store)
    anon = env.client()
    r = anon.get("/public/transparency.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    month = _month(doc)
    assert month["month"] == f"{utcnow():%Y-%m}"
    assert month["faces_processed"] == 1234
    assert month["alerts"] == {"candidate": ALERTS, "confirmed": 0, "rejected": "< 5"}
    deployment = doc["payload"]["deployment"][-1]  # not per camera: for the whole deployment
    assert deployment["authorizations"] == [
        {"purpose": "missing_person", "authority": "District Court", "count": ALERTS}
    ]
    assert deployment["maintenance_hours"] == 0
    earlier = doc["payload"]["groups"][0]["months"][0]
    assert earlier["faces_processed"] == 0 and earlier["alerts"]["candidate"] == 0
    sizes = {w["purpose"]: w for w in doc["payload"]["watchlists_by_purpose"]}
    assert sizes["missing_person"]["people"] == ALERTS
    with env.context.db.read() as s:
        pack = env.settings.model_pack
        in_force = current_threshold(s, env.settings, pack, enrolled_now(s, pack))
    assert doc["payload"]["threshold"]["threshold"] == in_force.threshold
    assert doc["payload"]["threshold"]["base_threshold"] == in_force.base
    assert doc["payload"]["threshold"]["measured_false_positive_rate"] == in_force.measured_fpr
    signer = settings_signer(env.settings)
    assert doc["public_key"] == signer.public_b64
    payload = verify_document(r.text, PublicVerifier(signer.public))
    assert payload == doc["payload"]
    page = anon.get("/public/transparency")
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    assert "1234" in page.text and "&lt; 5" in page.text and "District Court" in page.text


def test_page_holds_no_personal_data(env_factory, alert_store) -> None:
    env = env_factory(server={"public_report": True})
    ids = _seed(env, alert_store)
    with env.context.db.read() as s:
        secrets_ = [
            *s.scalars(select(Subject.name)),
            *s.scalars(select(Watchlist.name)),
            *s.scalars(select(Authorization.reference)),
        ]
        crops = [c for c in s.scalars(select(Alert.crop)) if c]
        subject_ids = list(s.scalars(select(Subject.id)))
        cameras = list(s.scalars(select(Camera.name)))  # the page lists groups, not cameras
    assert len(secrets_) == 3 * ALERTS and crops and subject_ids and cameras == ["cam-north"]
    secrets_ += cameras
    anon = env.client()
    bodies = {
        "json": anon.get("/public/transparency.json").text,
        "html": anon.get("/public/transparency").text,
    }
    for kind, body in bodies.items():
        assert not [n for n in secrets_ if n in body], kind
        assert not [u.value for u in Role if f'"{u.value}"' in body or f">{u.value}<" in body]
        assert "data:image" not in body and "<img" not in body, kind
        assert not [c for c in crops if base64.b64encode(c).decode()[:40] in body], kind
        lowered = body.lower()
        for field in ("subject", "reference", "username", "alert_id", "crop", "name"):
            assert f'"{field}' not in lowered, (kind, field)
    # no identifier-shaped key anywhere in the JSON
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(bodies["json"]))
    assert not [k for k in keys if k == "id" or (k.endswith("_id") and k != "key_id")]
    assert ids  # the alerts exist, yet none is named
