"""One call for the setup every demo, benchmark and fixture needs: a case with one subject.

:func:`open_case` registers an authorization, creates a watchlist under it and enrolls one
subject from photos, each step through its own service (so each is validated and audited as if
done by hand). Real deployments do these steps one by one from the CLI or the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from vigil.context import AppContext
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.enrollment import FacePhotoValidator
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import ValidatedFace


@dataclass(frozen=True, slots=True)
class CaseSetup:
    """An authorization (from ``valid_before`` ago for ``valid_for``), a watchlist, a subject."""

    reference: str
    legal_basis: str
    authority: str
    watchlist: str
    subject: str
    valid_for: timedelta
    purpose: str = "missing_person"
    valid_before: timedelta = timedelta(0)  # start the authorization this long before now


def open_case(
    ctx: AppContext, case: CaseSetup, photos: Sequence[Path], *, actor: str
) -> list[ValidatedFace]:
    """Register ``case`` and enroll its subject from ``photos``; returns the enrolled faces.

    The photos are validated first, so a refused photo leaves nothing half set up.
    """
    validator = FacePhotoValidator.from_settings(ctx.pack, ctx.settings)
    faces = [validator.validate(p.read_bytes(), p.name) for p in photos]
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            reference=case.reference,
            purpose=case.purpose,
            legal_basis=case.legal_basis,
            authority=case.authority,
            expires_at=now + case.valid_for,
            valid_from=now - case.valid_before if case.valid_before else None,
        ),
        actor=actor,
    )
    watchlists = WatchlistService(ctx.db, ctx.cipher)
    watchlists.create(case.watchlist, case.reference, actor=actor)
    watchlists.enroll(case.watchlist, case.subject, faces, actor=actor)
    return faces
