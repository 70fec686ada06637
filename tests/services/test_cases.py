"""open_case: authorization, watchlist and subject in one call; nothing left on a refusal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigil.context import AppContext
from vigil.db.models import Authorization, Subject, Watchlist
from vigil.errors import EnrollmentRejected
from vigil.services.cases import CaseSetup, open_case

pytestmark = pytest.mark.slow

CASE = CaseSetup(
    reference="ORD-CASE-1",
    legal_basis="Art 1",
    authority="Court",
    watchlist="missing",
    subject="Lin-Manuel Miranda",
    valid_for=timedelta(days=1),
    valid_before=timedelta(hours=1),
)


def _count(context, model) -> int:
    with context.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_open_case_registers_and_enrolls(onnx_context: AppContext, photos: Path) -> None:
    faces = open_case(onnx_context, CASE, [photos / "lin-manuel-miranda.png"], actor="test")
    assert len(faces) == 1
    with onnx_context.db.read() as s:
        auth = s.scalar(select(Authorization).where(Authorization.reference == CASE.reference))
        assert auth is not None and auth.valid_from < auth.expires_at
    assert _count(onnx_context, Watchlist) == 1 and _count(onnx_context, Subject) == 1


def test_a_refused_photo_leaves_nothing(onnx_context: AppContext, photos: Path) -> None:
    with pytest.raises(EnrollmentRejected):
        open_case(onnx_context, CASE, [photos / "two_people.jpg"], actor="test")
    assert _count(onnx_context, Authorization) == _count(onnx_context, Watchlist) == 0
    assert _count(onnx_context, Subject) == 0
