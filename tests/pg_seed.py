"""Seeding helpers for the PostgreSQL tests: an authorization, a watchlist with enrolled subjects
(made-up embeddings, random JPEG crops, sealed like real ones) and a real candidate alert stored
through the pipeline's AlertStore. No model runs."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from vigil.context import AppContext
from vigil.imaging import encode_jpeg
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, GalleryEntry, Match, Quality, ValidatedFace


def face(seed: int, pack: str = "dlib") -> ValidatedFace:
    rng = np.random.default_rng(seed)
    return ValidatedFace(
        embedding=Embedding.normalised(rng.normal(size=128), pack),
        quality=Quality(size=1.0, sharpness=1.0, pose=1.0, score=0.9),
        crop_jpeg=encode_jpeg(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)),
        source_name=f"face{seed}.jpg",
    )


def enroll_under(context: AppContext, reference: str, subjects: int) -> list[int]:
    """An active authorization ``reference`` with ``subjects`` enrolled; returns subject ids."""
    AuthorizationService(context.db).create(
        AuthorizationInput(
            reference=reference,
            purpose="missing_person",
            legal_basis="court order",
            authority="District Court",
            expires_at=utcnow() + timedelta(days=7),
            valid_from=utcnow() - timedelta(hours=1),
        ),
        actor="test",
    )
    watchlists = WatchlistService(context.db, context.cipher)
    watchlists.create(f"list-{reference}", reference, actor="test")
    pack = context.settings.model_pack
    return [
        watchlists.enroll(
            f"list-{reference}",
            f"{reference} person {i}",
            [face(sum(map(ord, reference)) * 100 + i, pack)],
            actor="test",
        ).subject_id
        for i in range(subjects)
    ]


def store_candidate(
    context: AppContext, reference: str = "ORDER-ALERT", bus: AlertBus | None = None
) -> int:
    """A candidate alert on camera 'cam1' under a new authorization, its event published on
    ``bus`` (default: a bus of its own); returns its id."""
    from vigil.repositories.authorizations import AuthorizationRepo
    from vigil.repositories.watchlists import TemplateRepo, WatchlistRepo

    (subject_id,) = enroll_under(context, reference, 1)
    with context.db.read() as s:
        auth = AuthorizationRepo(s).get(reference)
        wl = WatchlistRepo(s).get(f"list-{reference}")
        tpl = TemplateRepo(s).first_for_subject(subject_id)
        assert tpl is not None
        entry = GalleryEntry(
            tpl.id, subject_id, f"{reference} person 0", wl.id, wl.name, auth.id, reference,
            auth.valid_from, auth.expires_at, None,
        )  # fmt: skip
    now = utcnow()
    candidate = CandidateAlert(
        camera="cam1",
        first_seen=now - timedelta(seconds=2),
        last_seen=now,
        match=Match(entry, 0.9),
        crop_jpeg=encode_jpeg(np.zeros((40, 40, 3), np.uint8)),
        captured_monotonic=0.0,
    )
    return AlertStore(context.db, context.cipher, context.settings, bus or AlertBus()).save(
        candidate
    )
