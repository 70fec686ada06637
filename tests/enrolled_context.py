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
from vigil.services.cases import CaseSetup, open_case

REFERENCE = "ORD-RT-1"
LIN = "Lin-Manuel Miranda"


@pytest.fixture()
def lin_context(onnx_settings: Settings, photos: Path) -> Iterator[AppContext]:
    """Lin-Manuel Miranda enrolled in watchlist 'missing' under authorization ORD-RT-1."""
    context = build_context(onnx_settings)
    case = CaseSetup(
        reference=REFERENCE,
        legal_basis="Art 1",
        authority="Court",
        watchlist="missing",
        subject=LIN,
        valid_for=timedelta(days=1),
        valid_before=timedelta(hours=1),
    )
    open_case(context, case, [photos / "lin-manuel-miranda.png"], actor="test")
    yield context
    context.close()
