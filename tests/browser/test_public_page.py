"""The public transparency page in a real headless Chromium: an anonymous visitor (no login)
sees the monthly figures; a deployment that did not switch it on answers 404."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from vigil.config import load_settings

pytestmark = pytest.mark.browser

FACES = 4321


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(context) -> None:
    from vigil.db.models import FaceCount
    from vigil.services.authorizations import AuthorizationInput, AuthorizationService
    from vigil.timeutil import utcnow

    now = utcnow()
    AuthorizationService(context.db).create(
        AuthorizationInput(
            reference="PUBLIC-PAGE-REF-1",
            purpose="missing_person",
            legal_basis="Test order, art. 2",
            authority="Regional Court",
            expires_at=now + timedelta(days=3),
            valid_from=now - timedelta(hours=1),
        ),
        actor="test",
    )
    with context.db.write() as s:
        s.add(FaceCount(camera="gate", minute=now.replace(second=0, microsecond=0), faces=FACES))


def _serve(home: Path, public: bool):
    from vigil.cli.server import BackgroundServer, ServeOptions
    from vigil.context import build_context

    settings = load_settings(
        {"VIGIL_HOME": str(home)},
        server={
            "secret_key": secrets.token_urlsafe(48),
            "secure_cookies": False,
            "public_report": public,
        },
    )
    context = build_context(settings)
    _seed(context)
    options = ServeOptions("127.0.0.1", free_port(), log_level="warning")
    return BackgroundServer(settings, options, context=context).start(cameras=False)


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[bool, str]]:
    root = tmp_path_factory.mktemp("public-page")
    on, off = _serve(root / "on", True), _serve(root / "off", False)
    yield {True: on.url, False: off.url}
    on.stop()
    off.stop()


def test_anonymous_visitor_sees_the_figures(browser, servers, screenshots: Path) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{servers[True]}/public/transparency")
        assert response is not None and response.status == 200
        assert "/login" not in page.url
        assert page.locator("h1").inner_text() == "Vigil public transparency report"
        figures = page.locator("#figures tbody tr").last.inner_text()
        assert str(FACES) in figures
        authorizations = page.locator("#authorizations").inner_text()
        assert "Regional Court" in authorizations and "< 5" in authorizations
        assert "PUBLIC-PAGE-REF-1" not in page.content()
        assert "not measured" in page.locator("#threshold").inner_text()
        page.screenshot(path=str(screenshots / "public-transparency.png"), full_page=True)
        signed = page.goto(f"{servers[True]}/public/transparency.json")
        assert signed is not None and signed.status == 200 and "signature" in signed.json()
    finally:
        context.close()


def test_off_by_default_is_404(browser, servers) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{servers[False]}/public/transparency")
        assert response is not None and response.status == 404
    finally:
        context.close()
