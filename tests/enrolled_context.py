"""Fixture ``lin_context``: an ONNX-pack AppContext with Lin-Manuel Miranda enrolled and authorized.

A root fixture (tests/root_fixtures.py registers it); the context is ``onnx_context``, closed
after the test.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from vigil.context import AppContext
from vigil.services.cases import CaseSetup, open_case

REFERENCE = "ORD-RT-1"
LIN = "Lin-Manuel Miranda"


@pytest.fixture()
def lin_context(onnx_context: AppContext, photos: Path) -> AppContext:
    """Lin-Manuel Miranda enrolled in watchlist 'missing' under authorization ORD-RT-1."""
    case = CaseSetup(
        reference=REFERENCE,
        legal_basis="Art 1",
        authority="Court",
        watchlist="missing",
        subject=LIN,
        valid_for=timedelta(days=1),
        valid_before=timedelta(hours=1),
    )
    open_case(onnx_context, case, [photos / "lin-manuel-miranda.png"], actor="test")
    return onnx_context
