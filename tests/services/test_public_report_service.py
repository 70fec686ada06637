"""PublicReportService: 404 unless switched on; the signed document is cached, not rebuilt per
anonymous request, unless the cache is 0."""

from __future__ import annotations

import pytest

from vigil.accountability.signing import settings_signer
from vigil.context import AppContext
from vigil.db.models import FaceCount
from vigil.errors import NotFound
from vigil.services.cameras import CameraInput, CameraService
from vigil.services.public_report import PublicReportService
from vigil.timeutil import utcnow


def _service(context: AppContext, on: bool, cache_seconds: float) -> PublicReportService:
    settings = context.settings.model_copy(deep=True)
    settings.server.public_report = on
    return PublicReportService(
        context.db, settings, lambda: settings_signer(settings), cache_seconds=cache_seconds
    )


def _faces(doc: dict) -> object:
    return doc["payload"]["groups"][0]["months"][-1]["faces_processed"]


def _add_camera(context: AppContext) -> None:
    """The camera whose faces are counted: in the default group, published with 0 faces first."""
    CameraService(context.db).add(CameraInput("cam", "rtsp://10.0.0.5/s"), actor="test")


def _add_faces(context: AppContext, n: int) -> None:
    with context.db.write() as s:
        s.add(FaceCount(camera="cam", minute=utcnow().replace(microsecond=0), faces=n))


def test_off_raises_not_found(context: AppContext) -> None:
    service = _service(context, False, 0)
    with pytest.raises(NotFound, match="public_report"):
        service.signed()
    with pytest.raises(NotFound):
        service.html()


def test_cached_document_until_the_cache_ends(context: AppContext) -> None:
    cached, fresh = _service(context, True, 3600), _service(context, True, 0)
    _add_camera(context)
    first = cached.signed()
    assert _faces(first) == 0
    _add_faces(context, 50)
    assert cached.signed() is first  # within the hour: not rebuilt
    assert _faces(fresh.signed()) == 50
    assert "<td>50</td>" in fresh.html()
