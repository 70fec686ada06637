"""The gallery's threshold and minimum face size follow the number of people enrolled (the
watchlist-size ladders)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from vigil.accountability.public_render import render_public_html
from vigil.accountability.public_report import build_public_payload
from vigil.accountability.report import build_report
from vigil.accountability.report_render import html_sections, to_csv
from vigil.context import AppContext
from vigil.db.models import Alert, AuditEvent, Setting
from vigil.domain.enums import AuthorizationStatus
from vigil.faces.gallery import GallerySnapshot
from vigil.repositories.gallery import GalleryRepo
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.camera_sessions import SessionLog
from vigil.services.gallery import ActiveGallery
from vigil.services.gallery_snapshot import GallerySnapshotStore
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, Match, Quality, ValidatedFace

AT_20 = 0.945 + (0.955 - 0.945) * math.log10(20 / 10)  # between the N = 10 and 100 points


def face(seed: int) -> ValidatedFace:
    v = np.random.default_rng(seed).normal(size=128)
    return ValidatedFace(
        Embedding.normalised(v, "dlib"), Quality(1, 1, 1, 1), b"\xff\xd8jpeg", f"p{seed}.jpg"
    )


def enroll(
    ctx: AppContext, ref: str, people: int, first_seed: int, *, starts_in: timedelta | None = None
) -> None:
    """One authorization and watchlist ``ref`` with ``people`` subjects of two templates each
    (the authorization valid from ``starts_in`` from now; an hour ago by default)."""
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            ref,
            "missing_person",
            "Art 1",
            "Court",
            utcnow() + timedelta(days=30),
            valid_from=utcnow() + (starts_in or -timedelta(hours=1)),
        ),
        actor="test",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create(f"wl-{ref}", ref, actor="test")
    for i in range(people):
        seed = first_seed + 2 * i
        wl.enroll(f"wl-{ref}", f"{ref}-{i}", [face(seed), face(seed + 1)], actor="test")


class Clock:
    """A monotonic clock that moves only when told (a moving clock makes a sync's reconcile
    due at random, and the test would check a different path each run)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def active(ctx: AppContext, clock: Clock | None = None) -> ActiveGallery:
    return ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib", clock=clock or Clock())


def spy_on_adds(
    gallery: ActiveGallery,
    monkeypatch: pytest.MonkeyPatch,
    read: Callable[[GallerySnapshot], float] = lambda snap: snap.threshold,
) -> list[float]:
    """What a camera would read (the threshold by default) while each batch of templates goes
    in."""
    seen: list[float] = []
    cls = type(gallery.snapshot().gallery)
    add = cls.add

    def spy(self: object, *args: object, **kwargs: object) -> None:
        seen.append(read(gallery.snapshot()))
        add(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cls, "add", spy)
    return seen


def test_the_threshold_follows_enrolments_and_revocations(context: AppContext) -> None:
    assert context.settings.dlib.threshold == pytest.approx(0.92)
    enroll(context, "ONE", 1, 0)
    gallery = active(context)
    snap = gallery.refresh()
    assert (snap.gallery.subject_count(), snap.threshold) == (
        1,
        pytest.approx(0.93),
    )  # ladder's N = 1

    enroll(context, "MANY", 19, 100)
    gallery.sync()
    snap = gallery.snapshot()
    assert snap.gallery.subject_count() == 20 and len(snap.gallery) == 40
    assert snap.threshold == pytest.approx(AT_20, abs=1e-9)
    assert 0.945 < snap.threshold < 0.955

    AuthorizationService(context.db).end("MANY", AuthorizationStatus.revoked, actor="test")
    report = gallery.sync()
    assert report.dropped_authorizations
    snap = gallery.snapshot()
    assert (snap.gallery.subject_count(), snap.threshold) == (
        1,
        pytest.approx(0.93),
    )  # ladder's N = 1


def test_new_people_are_never_matched_at_the_smaller_gallery_s_threshold(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(context, "ONE", 1, 0)
    gallery = active(context)
    assert gallery.refresh().threshold == pytest.approx(
        0.93
    )  # the ladder's N = 1 point (base 0.92)
    enroll(context, "MANY", 19, 100)
    seen = spy_on_adds(gallery, monkeypatch)
    gallery.sync()
    assert seen and min(seen) == pytest.approx(AT_20, abs=1e-9)


def skip_past(gallery: ActiveGallery, context: AppContext, *, authority: bool = False) -> None:
    """Move the gallery's template cursor past every stored template without loading them, as
    after a later id committed first, or a snapshot saved before a watchlist was authorized
    (with ``authority``, the cursor also holds today's authority: only a reconcile finds them)."""
    with context.db.read() as s:
        repo = GalleryRepo(s)
        top, audit_id = repo.max_template_id("dlib"), repo.max_audit_id()
        now = {a.watchlist_id: a for a in repo.authority(utcnow())}
    cursors = replace(gallery._cursors, template_id=top, audit_id=audit_id)
    gallery._cursors = replace(cursors, authority=now) if authority else cursors


def test_a_newly_authorized_watchlist_below_the_cursor_comes_in_at_the_raised_threshold(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(context, "ONE", 1, 0)
    gallery = active(context)
    assert gallery.refresh().threshold == pytest.approx(
        0.93
    )  # the ladder's N = 1 point (base 0.92)
    enroll(context, "MANY", 19, 100)
    skip_past(gallery, context)  # only the authority change can bring MANY in
    seen = spy_on_adds(gallery, monkeypatch)
    report = gallery.sync()
    assert not report.reconciled and gallery.snapshot().gallery.subject_count() == 20
    assert seen and min(seen) == pytest.approx(AT_20, abs=1e-9)


def test_templates_found_by_the_reconcile_are_added_at_the_raised_threshold(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    enroll(context, "ONE", 1, 0)
    gallery = active(context, clock)
    assert gallery.refresh().threshold == pytest.approx(
        0.93
    )  # the ladder's N = 1 point (base 0.92)
    enroll(context, "MANY", 19, 100)
    skip_past(gallery, context, authority=True)
    seen = spy_on_adds(gallery, monkeypatch)
    clock.t += context.settings.matching.gallery_reconcile_seconds  # the reconcile is due
    assert gallery.sync().reconciled
    assert gallery.snapshot().gallery.subject_count() == 20
    assert seen and min(seen) == pytest.approx(AT_20, abs=1e-9)


def test_a_full_load_applies_the_ladder_and_a_stricter_base_wins(context: AppContext) -> None:
    enroll(context, "MANY", 20, 0)
    gallery = active(context)
    assert gallery.refresh().threshold == pytest.approx(AT_20, abs=1e-9)
    with context.db.write() as s:
        s.add(Setting(key="threshold.dlib", value="0.97"))  # `vigil calibrate` stored a base
    gallery.sync()
    assert gallery.snapshot().threshold == pytest.approx(0.97)


def test_no_ladder_keeps_the_base(context: AppContext) -> None:
    settings = context.settings.model_copy(
        update={
            "dlib": context.settings.dlib.model_copy(update={"threshold_by_watchlist_size": []})
        }
    )
    enroll(context, "MANY", 20, 0)
    snap = ActiveGallery(context.db, context.cipher, settings, "dlib").refresh()
    assert snap.threshold == pytest.approx(0.92)


def test_the_reports_show_the_threshold_the_gallery_matches_with(context: AppContext) -> None:
    enroll(context, "MANY", 20, 0)
    snap = active(context).refresh()
    now = utcnow()
    report = build_report(context.db, context.settings, now - timedelta(days=1), now)
    assert report.threshold.threshold == pytest.approx(snap.threshold, abs=1e-12)
    assert (report.threshold.base, report.threshold.enrolled) == (pytest.approx(0.92), 20)
    assert "raised from 0.9200 for 20 enrolled people" in html_sections(report)
    assert "threshold,dlib,enrolled_people,20" in to_csv(report)
    public = build_public_payload(context.db, context.settings, now)["threshold"]
    assert public["threshold"] == pytest.approx(snap.threshold, abs=1e-12)
    assert (public["base_threshold"], public["enrolled_people"]) == (pytest.approx(0.92), 20)


def test_an_alert_records_the_threshold_in_force_for_the_gallery_size(
    context: AppContext,
) -> None:
    enroll(context, "MANY", 20, 0)
    snap = active(context).refresh()
    entry = snap.entries[0]
    now = utcnow()
    match = Match(entry, 0.99)
    cand = CandidateAlert("cam1", now - timedelta(seconds=5), now, match, b"\xff\xd8crop", 0.0)
    alert_id = AlertStore(context.db, context.cipher, context.settings, AlertBus()).save(cand)
    with context.db.read() as s:
        alert = s.get(Alert, alert_id)
    assert alert is not None
    assert alert.threshold == pytest.approx(snap.threshold, abs=1e-9)


# -- the minimum face size follows N too (dlib: 48 px up to 10 people, 96 px from 11) ---------


@pytest.mark.parametrize(("people", "expected"), [(1, 48), (10, 48), (11, 96), (20, 96)])
def test_a_full_load_sets_the_minimum_face_size_for_its_number_of_people(
    context: AppContext, people: int, expected: int
) -> None:
    enroll(context, "MANY", people, 0)
    snap = active(context).refresh()
    assert (snap.gallery.subject_count(), snap.min_face_px) == (people, expected)


def test_the_minimum_face_size_follows_enrolments_and_revocations(context: AppContext) -> None:
    enroll(context, "ONE", 10, 0)
    gallery = active(context)
    assert gallery.refresh().min_face_px == 48
    enroll(context, "MORE", 1, 100)  # the 11th person
    gallery.sync()
    assert (gallery.snapshot().gallery.subject_count(), gallery.snapshot().min_face_px) == (11, 96)
    AuthorizationService(context.db).end("MORE", AuthorizationStatus.revoked, actor="test")
    gallery.sync()
    assert (gallery.snapshot().gallery.subject_count(), gallery.snapshot().min_face_px) == (10, 48)


def test_new_people_are_never_searched_at_the_smaller_gallery_s_minimum_face(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(context, "ONE", 10, 0)
    gallery = active(context)
    assert gallery.refresh().min_face_px == 48
    enroll(context, "MORE", 5, 100)
    seen = spy_on_adds(gallery, monkeypatch, lambda snap: snap.min_face_px)
    gallery.sync()
    assert seen and min(seen) == 96


def test_a_loaded_gallery_snapshot_gets_the_minimum_face_for_today_s_people(
    context: AppContext,
) -> None:
    store = GallerySnapshotStore(context.settings.home, context.db, context.cipher)
    enroll(context, "ONE", 2, 0)
    first = ActiveGallery(context.db, context.cipher, context.settings, "dlib", snapshots=store)
    assert first.refresh().min_face_px == 48 and store.path("dlib").is_file()
    enroll(context, "MORE", 10, 100)  # after the snapshot was saved: 12 people now
    second = ActiveGallery(context.db, context.cipher, context.settings, "dlib", snapshots=store)
    snap = second.refresh()
    assert second.source == "snapshot"
    assert (snap.gallery.subject_count(), snap.min_face_px) == (12, 96)


def test_a_calibrated_minimum_face_is_the_base_the_ladder_raises(context: AppContext) -> None:
    enroll(context, "MANY", 2, 0)
    with context.db.write() as s:
        s.add(Setting(key="min_face.dlib", value="40"))  # `vigil calibrate --from-openset`
    assert active(context).refresh().min_face_px == 48  # the ladder's 48 at N = 2 wins
    with context.db.write() as s:
        s.merge(Setting(key="min_face.dlib", value="70"))
    assert active(context).refresh().min_face_px == 70  # a larger base wins


def test_the_reports_and_the_session_start_show_the_minimum_face_in_force(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    enroll(context, "MANY", 20, 0)
    snap = active(context).refresh()
    assert snap.min_face_px == 96
    now = utcnow()
    report = build_report(context.db, context.settings, now - timedelta(days=1), now)
    assert report.min_face is not None
    assert (report.min_face.min_face_px, report.min_face.base) == (96, 48)
    assert "Smallest face searched: <b>96 px</b>" in html_sections(report)
    assert "raised from 48 px for 20 enrolled people" in html_sections(report)
    assert "min_face,dlib,min_face_px,96" in to_csv(report)
    payload = build_public_payload(context.db, context.settings, now)
    assert (payload["threshold"]["min_face_px"], payload["threshold"]["base_min_face_px"]) == (
        96,
        48,
    )
    assert "96 px wide, raised from 48 px" in render_public_html(payload, "k1", "pub")
    with caplog.at_level(logging.INFO, logger="vigil.services.camera_sessions"):
        SessionLog(context.db, "test").start("cam1", "file.mp4", snap)
    assert "minimum face size 96 px for 20 enrolled people" in caplog.text
    with context.db.read() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "camera.session_start")
        ).one()
    assert event.details["min_face_px"] == 96
