"""The running gallery follows the database by change: in place, by id, no full re-decrypt."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import event

from vigil.context import AppContext
from vigil.db.models import Authorization, Subject
from vigil.domain.enums import AuthorizationStatus
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery, GalleryHub
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace


def face(seed: int) -> ValidatedFace:
    v = np.random.default_rng(seed).normal(size=128)
    return ValidatedFace(
        Embedding.normalised(v, "dlib"), Quality(1, 1, 1, 1), b"\xff\xd8jpeg", f"p{seed}.jpg"
    )


def seed_subject(ctx: AppContext, ref: str, *, days: float = 30, cameras=None) -> None:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            ref,
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=days),
            valid_from=now - timedelta(days=1),
            cameras=cameras,
        ),
        actor="test",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create(f"wl-{ref}", ref, actor="test")
    wl.enroll(f"wl-{ref}", f"person-{ref}", [face(len(ref)), face(len(ref) + 100)], actor="test")


class CountingCipher:
    """The real cipher, counting every template opened."""

    def __init__(self, cipher) -> None:
        self.cipher = cipher
        self.opened = 0

    def open(self, blob: bytes, aad: bytes) -> bytes:
        self.opened += 1
        return self.cipher.open(blob, aad)


def loaded(ctx: AppContext) -> tuple[ActiveGallery, CountingCipher]:
    cipher = CountingCipher(ctx.cipher)
    gallery = ActiveGallery(ctx.db, cipher, ctx.settings, "dlib")  # type: ignore[arg-type]
    gallery.refresh()
    return gallery, cipher


def refs(gallery: ActiveGallery) -> set[str]:
    return {e.authorization_reference for e in gallery.snapshot().entries}


def test_an_enrollment_is_added_in_place_opening_only_the_new_templates(
    context: AppContext,
) -> None:
    seed_subject(context, "A")
    gallery, cipher = loaded(context)
    index, opened = gallery.snapshot().gallery, cipher.opened
    assert opened == 2
    WatchlistService(context.db, context.cipher).enroll(
        "wl-A", "late", [face(42), face(43), face(44)], actor="test"
    )
    report = gallery.sync()
    assert report.added == 3 and not report.reconciled
    assert cipher.opened == opened + 3  # no full re-decrypt
    assert gallery.snapshot().gallery is index  # the same index, changed in place
    assert len(gallery.snapshot().entries) == 5


@pytest.mark.parametrize("status", [AuthorizationStatus.revoked, AuthorizationStatus.refused])
def test_a_revocation_drops_the_authorization_on_the_next_sync(context: AppContext, status) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    gallery, cipher = loaded(context)
    opened = cipher.opened
    AuthorizationService(context.db).end("A", status, actor="test")
    report = gallery.sync()
    assert refs(gallery) == {"BB"}
    assert report.removed == 2 and len(report.dropped_authorizations) == 1
    assert cipher.opened == opened


def test_a_removed_subject_leaves_through_the_audit_cursor(context: AppContext) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    gallery, _ = loaded(context)
    with context.db.read() as s:
        subject_id = s.query(Subject).filter_by(name="person-A").one().id
    WatchlistService(context.db, context.cipher).remove_subject(subject_id, actor="test")
    report = gallery.sync()
    assert report.reconciled and report.removed == 2
    assert refs(gallery) == {"BB"}


def test_a_scope_change_moves_the_entries_and_the_search_follows(context: AppContext) -> None:
    seed_subject(context, "A", cameras=["cam1"])
    gallery, _ = loaded(context)
    now, probe = utcnow(), face(1).embedding.vector
    assert gallery.snapshot().search(probe, "cam2", now, 1) == []
    with context.db.write() as s:
        s.query(Authorization).filter_by(reference="A").one().cameras = ["cam2"]
    report = gallery.sync()
    assert report.rescoped_authorizations and report.added == 0
    assert gallery.snapshot().search(probe, "cam2", now, 1)[0].score == pytest.approx(1, abs=1e-5)
    assert gallery.snapshot().search(probe, "cam1", now, 1) == []


def test_expiry_needs_no_sync_the_search_filters_by_time(context: AppContext) -> None:
    seed_subject(context, "A", days=1)
    gallery, _ = loaded(context)
    probe = face(1).embedding.vector
    assert gallery.snapshot().search(probe, "cam", utcnow(), 1)
    assert gallery.snapshot().search(probe, "cam", utcnow() + timedelta(days=2), 1) == []


def test_reads_never_load_the_photo_column(context: AppContext) -> None:
    seed_subject(context, "A")
    statements: list[str] = []
    engine = context.db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        gallery, _ = loaded(context)
        WatchlistService(context.db, context.cipher).enroll("wl-A", "x", [face(9)], actor="t")
        gallery.sync()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    reads = [q for q in statements if "templates" in q and q.lstrip().upper().startswith("SELECT")]
    assert reads, "the gallery read templates"
    assert not [q for q in reads if "photo" in q]


def test_one_hub_gallery_per_pack_synced_on_its_own_thread(context: AppContext) -> None:
    settings = context.settings.model_copy(
        update={
            "matching": context.settings.matching.model_copy(
                update={"gallery_refresh_seconds": 0.05}
            )
        }
    )
    hub = GalleryHub(context.db, context.cipher, settings)
    try:
        first, second = hub.gallery("dlib"), hub.gallery("dlib")
        assert first is second and not first.inline_sync
        assert first.snapshot().entries == ()
        seed_subject(context, "A")
        deadline = time.monotonic() + 5.0  # the bound for a change to reach cameras
        while time.monotonic() < deadline and len(first.snapshot().entries) < 2:
            time.sleep(0.05)
        assert len(first.snapshot().entries) == 2
    finally:
        hub.stop()
