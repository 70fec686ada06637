"""ActiveGallery on a real database: active unexpired templates, reloads, threshold in force."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from vigil.accountability.threshold import threshold_for_size
from vigil.context import AppContext
from vigil.db.models import Setting, Template
from vigil.domain.enums import AuthorizationStatus
from vigil.errors import ConfigError
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace


def face(seed: int, pack: str = "dlib", dim: int = 128) -> ValidatedFace:
    v = np.random.default_rng(seed).normal(size=dim)
    return ValidatedFace(
        Embedding.normalised(v, pack), Quality(1, 1, 1, 1), b"\xff\xd8jpeg", f"p{seed}.jpg"
    )


def seed_subject(
    ctx: AppContext,
    ref: str,
    *,
    days: float = 30,
    cameras=None,
    start_days: float = -1,
    pack: str = "dlib",
) -> None:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            ref,
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=days),
            valid_from=now + timedelta(days=start_days),
            cameras=cameras,
        ),
        actor="test",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create(f"wl-{ref}", ref, actor="test")
    wl.enroll(f"wl-{ref}", f"person-{ref}", [face(len(ref)), face(len(ref) + 100)], actor="test")
    wl.enroll(f"wl-{ref}", f"other-pack-{ref}", [face(5, pack="onnx", dim=64)], actor="test")


def test_loads_active_templates_of_its_pack_only_and_opens_them(context: AppContext) -> None:
    seed_subject(context, "A")
    snap = ActiveGallery(context.db, context.cipher, context.settings, "dlib").refresh()
    assert [e.subject_name for e in snap.entries] == ["person-A", "person-A"]
    query = face(1).embedding.vector  # the first template's own vector: opened correctly
    (result,) = snap.search(query, "cam", utcnow(), 1)
    assert result.score == pytest.approx(1.0, abs=1e-5)
    # one person enrolled: the base, raised by the watchlist-size ladder's N = 1 point
    dlib = context.settings.dlib
    assert snap.threshold == threshold_for_size(dlib.threshold, dlib.threshold_by_watchlist_size, 1)
    assert snap.threshold >= dlib.threshold


@pytest.mark.parametrize("status", [AuthorizationStatus.revoked, AuthorizationStatus.refused])
def test_revoked_or_refused_authorization_leaves_the_gallery_on_refresh(
    context: AppContext, status
) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    gallery = ActiveGallery(context.db, context.cipher, context.settings, "dlib")
    assert {e.authorization_reference for e in gallery.refresh().entries} == {"A", "BB"}
    AuthorizationService(context.db).end("A", status, actor="test")
    assert {e.authorization_reference for e in gallery.refresh().entries} == {"BB"}


def test_expired_authorization_is_not_loaded(context: AppContext) -> None:
    seed_subject(context, "A", days=-1, start_days=-10)
    seed_subject(context, "BB")
    snap = ActiveGallery(context.db, context.cipher, context.settings, "dlib").refresh()
    assert {e.authorization_reference for e in snap.entries} == {"BB"}


def test_reloads_after_the_refresh_interval_only(context: AppContext) -> None:
    now = [0.0]
    gallery = ActiveGallery(
        context.db,
        context.cipher,
        context.settings,
        "dlib",
        refresh_seconds=60,
        clock=lambda: now[0],
    )
    assert gallery.snapshot().entries == ()
    seed_subject(context, "A")
    now[0] = 59.0
    assert gallery.snapshot().entries == ()  # cached
    now[0] = 60.0
    assert len(gallery.snapshot().entries) == 2  # reloaded


@pytest.mark.parametrize(("stored", "expected"), [(None, "config"), ("0.62", 0.62), ("-0.1", -0.1)])
def test_threshold_in_force_comes_from_the_settings_table(
    context: AppContext, stored, expected
) -> None:
    if stored is not None:
        with context.db.write() as s:
            s.add(Setting(key="threshold.dlib", value=stored))
    snap = ActiveGallery(context.db, context.cipher, context.settings, "dlib").refresh()
    if expected == "config":
        expected = context.settings.dlib.threshold
    assert snap.threshold == pytest.approx(expected)


@pytest.mark.parametrize(("stored", "message"), [("abc", "not a number"), ("3", "outside")])
def test_a_broken_stored_threshold_is_a_config_error(context: AppContext, stored, message) -> None:
    with context.db.write() as s:
        s.add(Setting(key="threshold.dlib", value=stored))
    with pytest.raises(ConfigError, match=message):
        ActiveGallery(context.db, context.cipher, context.settings, "dlib").refresh()


def _spoil(ctx: AppContext, template_id: int, blob: bytes) -> None:
    with ctx.db.write() as s:
        s.get(Template, template_id).vector = blob


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda sealed: sealed[:-1] + bytes([sealed[-1] ^ 1]), "cannot be opened"),
        (lambda sealed: b"plain bytes", "cannot be opened"),
    ],
    ids=["tampered", "not-sealed"],
)
def test_an_unreadable_template_is_logged_and_skipped(
    context: AppContext, caplog: pytest.LogCaptureFixture, spoil, message: str
) -> None:
    seed_subject(context, "A")
    gallery = ActiveGallery(context.db, context.cipher, context.settings, "dlib")
    first, second = gallery.refresh().entries
    with context.db.read() as s:
        sealed = s.get(Template, first.template_id).vector
    _spoil(context, first.template_id, spoil(sealed))
    with caplog.at_level("WARNING", logger="vigil.services.gallery"):
        snap = gallery.refresh()
    assert [e.template_id for e in snap.entries] == [second.template_id]
    assert f"template {first.template_id} {message}" in caplog.text
    (result,) = snap.search(face(101).embedding.vector, "cam", utcnow(), 1)
    assert result.score == pytest.approx(1.0, abs=1e-5)  # the other one still matches


def test_a_template_of_another_dimension_is_skipped(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    seed_subject(context, "A")
    gallery = ActiveGallery(context.db, context.cipher, context.settings, "dlib")
    first, second = gallery.refresh().entries
    short = np.ones(64, np.float32).tobytes()
    _spoil(
        context,
        second.template_id,
        context.cipher.seal(short, f"template:{second.template_id}".encode()),
    )
    with caplog.at_level("WARNING", logger="vigil.services.gallery"):
        snap = gallery.refresh()
    assert [e.template_id for e in snap.entries] == [first.template_id]
    assert "64 dimensions, expected 128" in caplog.text
