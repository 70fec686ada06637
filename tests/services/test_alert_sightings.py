"""Alert sightings on a real database: every matched track is its own sealed sighting, the
headline is the best one, a decided alert takes none, and every purge path leaves no sighting."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from vigil.accountability.crypto import DataCipher, read_keyring
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.retention import RetentionService
from vigil.accountability.rotation import rotate_key
from vigil.accountability.signing import settings_signer
from vigil.config import RetentionConfig
from vigil.context import AppContext
from vigil.db.models import Alert, AlertSighting, AuditEvent
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, NotFound
from vigil.repositories.sealed import sighting_aad
from vigil.services.alerts import AlertBus, AlertQueries, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, Match, Quality, SightingUpdate, ValidatedFace

WRONG = b"\xff\xd8 the look-alike's crop \xff\xd9"
RIGHT = b"\xff\xd8 the wanted person's crop \xff\xd9"


def enrolled(ctx: AppContext, name: str = "Jane Roe") -> Match:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            "ORD-S",
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=1),
            valid_from=now - timedelta(hours=1),
        ),
        actor="test",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create("missing", "ORD-S", actor="test")
    vector = Embedding.normalised(np.arange(1, 129, dtype=np.float32), "dlib")
    wl.enroll(
        "missing", name, [ValidatedFace(vector, Quality(1, 1, 1, 1), b"j", "a.jpg")], actor="test"
    )
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib").refresh().entries
    return Match(entry, 0.0)


def cand(match: Match, score: float, crop: bytes, start: float, end: float) -> CandidateAlert:
    """Seen from ``start`` to ``end`` seconds ago."""
    now = utcnow()
    return CandidateAlert(
        "cam1",
        now - timedelta(seconds=start),
        now - timedelta(seconds=end),
        Match(match.entry, score),
        crop,
        0.0,
        seen_at=now - timedelta(seconds=end),
    )


@pytest.fixture()
def scene(context: AppContext):
    """A look-alike's alert (0.46), then the wanted person's track at an overlapping time (0.94)."""
    bus, events = AlertBus(), []
    bus.subscribe(events.append)
    store = AlertStore(context.db, context.cipher, context.settings, bus)
    match = enrolled(context)
    alert_id = store.save(cand(match, 0.46, WRONG, 20, 10))
    right = cand(match, 0.94, RIGHT, 15, 5)
    assert store.save_sighting(SightingUpdate(alert_id, 2, right, conflicting=True))
    return store, match, alert_id, events


def test_the_best_sighting_is_first_and_the_headline_and_the_other_is_kept_flagged(
    context: AppContext, scene
) -> None:
    _store, _match, alert_id, events = scene
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert [(x.ordinal, x.score, x.conflicting) for x in public.sightings] == [
        (2, 0.94, True),
        (1, 0.46, True),  # its time overlaps the other's: flagged too
    ]
    assert public.score == 0.94 and public.conflicting_sightings
    queries = AlertQueries(context.db, context.cipher)
    assert queries.crop(alert_id, viewer="ann") == RIGHT  # the headline crop is the best one
    best, other = public.sightings
    assert queries.sighting_crop(alert_id, best.id, viewer="ann") == RIGHT
    assert queries.sighting_crop(alert_id, other.id, viewer="ann") == WRONG
    assert best.crop_url == f"/api/alerts/{alert_id}/sightings/{best.id}/crop"
    with context.db.read() as s:
        rows = s.scalars(select(AlertSighting).order_by(AlertSighting.ordinal)).all()
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "biometric.view")).all()
        sightings_audited = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "alert.sighting")
        ).all()
    assert all(r.crop_encrypted and WRONG not in r.crop and RIGHT not in r.crop for r in rows)
    assert context.cipher.open(rows[1].crop, sighting_aad(alert_id, rows[1].id)) == RIGHT
    assert [v.details.get("what") for v in views] == [
        "alert crop",
        "sighting crop",
        "sighting crop",
    ]
    assert [a.details["score"] for a in sightings_audited] == [0.94]
    assert [e.kind for e in events] == ["candidate", "updated"]
    wire = json.loads(json.dumps(events[-1].wire()))
    assert wire["alert"]["conflicting_sightings"] is True
    assert [s["score"] for s in wire["alert"]["sightings"]] == [0.94, 0.46]
    assert set(wire["alert"]["sightings"][0]) == {
        "id",
        "ordinal",
        "score",
        "seen_at",
        "first_seen",
        "last_seen",
        "conflicting",
        "has_crop",
        "crop_url",
        "rejected",
        "rejected_by",
        "rejected_at",
        "rejection_reason",
    }
    assert "look-alike" not in json.dumps(wire) and "wanted person" not in json.dumps(wire)


@pytest.mark.parametrize(
    ("score", "kept_score", "kept_crop"),
    [(0.99, 0.99, RIGHT), (0.30, 0.46, WRONG)],  # a better shot replaces, a worse one does not
)
def test_the_same_track_again_updates_its_own_sighting_only_when_better(
    context: AppContext, score: float, kept_score: float, kept_crop: bytes
) -> None:
    store = AlertStore(context.db, context.cipher, context.settings, AlertBus())
    match = enrolled(context)
    alert_id = store.save(cand(match, 0.46, WRONG, 20, 10))
    assert store.save_sighting(SightingUpdate(alert_id, 1, cand(match, score, RIGHT, 20, 2)))
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert [(x.ordinal, x.score) for x in public.sightings] == [(1, kept_score)]
    assert public.score == kept_score and not public.conflicting_sightings
    assert public.sightings[0].last_seen > public.first_seen + timedelta(seconds=15)
    queries = AlertQueries(context.db, context.cipher)
    assert queries.sighting_crop(alert_id, public.sightings[0].id, viewer="ann") == kept_crop
    assert queries.crop(alert_id, viewer="ann") == kept_crop


@pytest.mark.parametrize("status", [AlertStatus.confirmed, AlertStatus.rejected])
def test_a_decided_alert_takes_no_new_sighting(context: AppContext, status: AlertStatus) -> None:
    store = AlertStore(context.db, context.cipher, context.settings, AlertBus())
    match = enrolled(context)
    alert_id = store.save(cand(match, 0.46, WRONG, 20, 10))
    with context.db.write() as s:
        s.execute(update(Alert).values(status=status))
    assert not store.save_sighting(SightingUpdate(alert_id, 2, cand(match, 0.9, RIGHT, 5, 1)))
    assert not store.save_sighting(SightingUpdate(999, 2, cand(match, 0.9, RIGHT, 5, 1)))
    assert len(AlertQueries(context.db, context.cipher).get(alert_id).sightings) == 1


def test_a_sighting_of_another_subject_is_refused(context: AppContext) -> None:
    store = AlertStore(context.db, context.cipher, context.settings, AlertBus())
    match = enrolled(context)
    alert_id = store.save(cand(match, 0.46, WRONG, 20, 10))
    stranger = Match(replace(match.entry, subject_id=match.entry.subject_id + 100), 0.0)
    with pytest.raises(Conflict, match="cannot join alert"):
        store.save_sighting(SightingUpdate(alert_id, 2, cand(stranger, 0.9, RIGHT, 5, 1)))


def test_a_sighting_of_another_alert_is_not_found(context: AppContext, scene) -> None:
    store, match, alert_id, _ = scene
    other = store.save(cand(match, 0.5, WRONG, 400, 300))
    sid = AlertQueries(context.db, context.cipher).get(alert_id).sightings[0].id
    with pytest.raises(NotFound, match="has no sighting"):
        AlertQueries(context.db, context.cipher).sighting_crop(other, sid, viewer="ann")


def test_the_track_end_moves_its_own_sighting_last_seen(context: AppContext, scene) -> None:
    store, _match, alert_id, _ = scene
    later = utcnow() + timedelta(seconds=3)
    store.update_last_seen(alert_id, later, 1)
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    by_ordinal = {x.ordinal: x for x in public.sightings}
    assert by_ordinal[1].last_seen == later and by_ordinal[2].last_seen < later
    assert public.last_seen == later


def _sealed_blobs(context: AppContext) -> list[bytes]:
    with context.db.read() as s:
        blobs = [r.crop for r in s.scalars(select(AlertSighting)).all() if r.crop]
    assert blobs, "the scene stored sealed sighting crops"
    return blobs


def _on_disk(context: AppContext) -> bytes:
    context.db.checkpoint()
    path = Path(context.db.url.split("sqlite:///", 1)[-1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _revoke(context: AppContext) -> None:
    AuthorizationService(context.db).end("ORD-S", AuthorizationStatus.revoked, actor="t")


def _refuse(context: AppContext) -> None:
    AuthorizationService(context.db).end("ORD-S", AuthorizationStatus.refused, actor="t")


def _remove_subject(context: AppContext) -> None:
    with context.db.read() as s:
        subject_id = s.scalars(select(Alert.subject_id)).first()
    WatchlistService(context.db, context.cipher).remove_subject(subject_id, actor="t")


def _retention(context: AppContext) -> None:
    with context.db.write() as s:
        s.execute(update(Alert).values(created_at=utcnow() - timedelta(days=30)))
    cfg = RetentionConfig(candidate_alert_days=10, crop_days=5)
    RetentionService(context.db, cfg, settings_signer(context.settings)).run()


@pytest.mark.sqlite_only  # reads the SQLite file from disk (PostgreSQL: test_pg_backend.py)
@pytest.mark.parametrize("purge", [_revoke, _refuse, _remove_subject, _retention])
def test_every_purge_path_leaves_no_sighting_bytes(context: AppContext, scene, purge) -> None:
    blobs = _sealed_blobs(context)
    assert all(b in _on_disk(context) for b in blobs)
    purge(context)
    with context.db.read() as s:
        assert s.scalars(select(AlertSighting)).all() == []
    disk = _on_disk(context)
    assert not any(b in disk for b in blobs)


def test_retention_drops_sighting_crops_with_the_alert_crop(context: AppContext, scene) -> None:
    _store, _match, alert_id, _ = scene
    with context.db.write() as s:
        s.execute(update(Alert).values(created_at=utcnow() - timedelta(days=6)))
    cfg = RetentionConfig(candidate_alert_days=10, crop_days=5)
    result = RetentionService(context.db, cfg, settings_signer(context.settings)).run()
    assert result.deleted["crops"] == 3  # the alert's and its two sightings'
    public = AlertQueries(context.db, context.cipher).get(alert_id)
    assert len(public.sightings) == 2 and not any(x.has_crop for x in public.sightings)
    with pytest.raises(NotFound, match="removed by retention"):
        AlertQueries(context.db, context.cipher).sighting_crop(
            alert_id, public.sightings[0].id, viewer="ann"
        )


def test_a_key_rotation_reseals_sighting_crops_and_retires_the_old_key(
    context: AppContext, scene
) -> None:
    _store, _match, alert_id, _ = scene
    path = Path(context.key_path)
    old = read_keyring(path).ids
    result = rotate_key(context.db, path, actor="t", lock=DeploymentLock(context.settings.home))
    assert result.crops == 3 and set(old) & set(read_keyring(path).ids) == set()
    queries = AlertQueries(context.db, DataCipher(read_keyring(path)))
    crops = {
        queries.sighting_crop(alert_id, x.id, viewer="a") for x in queries.get(alert_id).sightings
    }
    assert crops == {RIGHT, WRONG}


def test_the_event_payload_carries_the_sightings(context: AppContext, scene) -> None:
    _store, _match, _alert_id, events = scene
    event = events[-1]
    assert isinstance(event, AlertEvent) and event.alert is not None
    assert [x.ordinal for x in event.alert.sightings] == [2, 1]
