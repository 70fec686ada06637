"""Fixture ``lin_context``: an ONNX-pack AppContext with Lin-Manuel Miranda enrolled and authorized.

Import it into a test module (or conftest) with ``from enrolled_context import lin_context``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from vigil.config import Settings
from vigil.context import AppContext, build_context
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.enrollment import FacePhotoValidator
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow

REFERENCE = "ORD-RT-1"
LIN = "Lin-Manuel Miranda"


@pytest.fixture()
def lin_context(onnx_settings: Settings, photos: Path) -> Iterator[AppContext]:
    """Lin-Manuel Miranda enrolled in watchlist 'missing' under authorization ORD-RT-1."""
    context = build_context(onnx_settings)
    now = utcnow()
    AuthorizationService(context.db).create(
        AuthorizationInput(
            REFERENCE,
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=1),
            valid_from=now - timedelta(hours=1),
        ),
        actor="test",
    )
    watchlists = WatchlistService(context.db, context.cipher)
    watchlists.create("missing", REFERENCE, actor="test")
    validator = FacePhotoValidator.from_settings(context.pack, onnx_settings)
    photo = photos / "lin-manuel-miranda.png"
    watchlists.enroll(
        "missing", LIN, [validator.validate(photo.read_bytes(), photo.name)], actor="test"
    )
    yield context
    context.close()
