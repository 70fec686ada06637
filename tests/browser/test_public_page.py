"""The public transparency page in a real headless Chromium: an anonymous visitor (no login)
sees the monthly figures of both camera groups (small counts as "< 5", no camera name); a
deployment that did not switch it on answers 404. A supervisor sets camera groups on the
Cameras page (a column and a field of the add/edit form)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from browser_forms import submit_login
from vigil.config import load_settings
from vigil.domain.enums import Role

pytestmark = pytest.mark.browser

FACES = 4321
CAMERAS = {"cam-gate-7": ("North", FACES), "cam-quay-3": ("Harbour", 2)}
SUPERVISOR_PASSWORD = "supervisor-public-page-pass-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(context) -> None:
    from vigil.db.models import FaceCount
    from vigil.services.authorizations import AuthorizationInput, AuthorizationService
    from vigil.services.cameras import CameraInput, CameraService
    from vigil.services.users import create_user
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
    cameras = CameraService(context.db)
    minute = now.replace(second=0, microsecond=0)
    with context.db.write() as s:
        for name, (_group, faces) in CAMERAS.items():
            s.add(FaceCount(camera=name, minute=minute, faces=faces))
    for name, (group, _faces) in CAMERAS.items():
        cameras.add(CameraInput(name, "rtsp://10.0.0.5/s", group=group), actor="test")
    create_user(context.db, "supervisor", Role.supervisor, SUPERVISOR_PASSWORD, actor="test")


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
        for name, (group, faces) in CAMERAS.items():
            section = page.locator(f'section.group[data-group="{group}"]')
            assert f"Camera group: {group} (1 camera)" in section.locator("h3").inner_text()
            shown = "< 5" if faces < 5 else str(faces)
            assert shown in section.locator("tbody tr").last.inner_text(), group
            assert name not in page.content()  # groups only, never a camera's name
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


def test_supervisor_sets_a_camera_group_on_the_cameras_page(browser, servers) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        submit_login(page, servers[True], "supervisor", SUPERVISOR_PASSWORD)
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto(f"{servers[True]}/cameras")
        row = page.locator("#camrow-cam-quay-3")
        row.wait_for()
        assert row.locator("td.cam-group").inner_text() == "Harbour"
        page.fill("#cam-name", "cam-new-1")
        page.fill("#cam-url", "rtsp://10.0.0.9/s")
        page.fill("#cam-group", "Old town")
        page.click("#cam-submit")
        page.wait_for_selector("#cam-result.success")
        added = page.locator("#camrow-cam-new-1")
        added.wait_for()
        assert added.locator("td.cam-group").inner_text() == "Old town"
        added.locator("button[data-edit]").click()
        assert page.locator("#cam-group").input_value() == "Old town"
        page.fill("#cam-group", "New town")
        page.click("#cam-submit")
        page.wait_for_selector("#camrow-cam-new-1 td.cam-group:has-text('New town')")
        page.fill("#cam-name", "cam-bad-1")
        page.fill("#cam-url", "rtsp://10.0.0.9/s")
        page.fill("#cam-group", "a/b")
        page.click("#cam-submit")
        page.wait_for_selector("#cam-result.error")
        assert "group" in page.locator("#cam-result").inner_text()
        cameras = page.request.get(f"{servers[True]}/api/cameras").json()
        assert {c["name"]: c["group"] for c in cameras}["cam-new-1"] == "New town"
        assert "cam-bad-1" not in {c["name"] for c in cameras}
    finally:
        context.close()
