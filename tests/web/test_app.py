"""create_app: explicit construction, shutdown and what it refuses."""

from __future__ import annotations

import gc
import logging
import secrets
from pathlib import Path

from fastapi.testclient import TestClient

from vigil.config import load_settings
from vigil.context import AppContext
from vigil.services.alerts import AlertBus
from vigil.services.logs import LogBuffer
from vigil.web.app import create_app


def test_app_builds_its_own_context_and_cleans_up_on_shutdown(tmp_path: Path) -> None:
    settings = load_settings(
        {"VIGIL_HOME": str(tmp_path), "VIGIL_SECRET_KEY": secrets.token_urlsafe(40)}
    )
    bus = AlertBus()
    app = create_app(settings, bus=bus)
    # metrics and the alert list's page cache (confirmed alerts leave through the outbox)
    assert len(bus._subscribers) == 2
    assert (tmp_path / "vigil.db").exists()  # migrated on build, not at import
    with TestClient(app) as client:
        assert client.get("/api/health").json()["status"] == "ok"
    assert bus._subscribers == []
    assert app.state.vigil.owns_context is True


def test_two_apps_do_not_share_state(tmp_path: Path) -> None:
    a = create_app(load_settings({"VIGIL_HOME": str(tmp_path / "a")}), ephemeral_secret=True)
    b = create_app(load_settings({"VIGIL_HOME": str(tmp_path / "b")}), ephemeral_secret=True)
    assert a.state.vigil.sessions is not b.state.vigil.sessions
    assert a.state.vigil.metrics.registry is not b.state.vigil.metrics.registry
    assert a.state.vigil.context.db is not b.state.vigil.context.db


def test_security_headers(tmp_path: Path) -> None:
    app = create_app(load_settings({"VIGIL_HOME": str(tmp_path)}), ephemeral_secret=True)
    client = TestClient(app)
    for path in ("/api/health", "/api/users"):  # a success and a refusal
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"


def _log_buffers_on_root() -> int:
    return sum(isinstance(h, LogBuffer) for h in logging.getLogger().handlers)


def test_apps_dropped_without_closing_leave_no_log_buffer(context: AppContext) -> None:
    """An app built and used without its lifespan (many tests do) and never closed does not
    leave its log buffer on the root logger: buffers would pile up, one per app."""
    gc.collect()
    before = _log_buffers_on_root()
    for _ in range(3):
        app = create_app(context.settings, context=context, ephemeral_secret=True)
        assert TestClient(app).get("/api/health").status_code == 200
        assert _log_buffers_on_root() > before  # on while the app lives
    del app
    gc.collect()
    assert _log_buffers_on_root() == before
