"""A real Vigil server (uvicorn on a free port, real SQLite home, the Hamilton clip on a looping
file camera, Lin-Manuel Miranda enrolled with the ONNX pack) and a real headless Chromium.

Chromium is Debian's /usr/bin/chromium driven by Playwright (never `playwright install`).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from browser_forms import submit_login
from role_users import create_role_users
from vigil.config import load_settings
from vigil.domain.enums import Role

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {role: f"{role.value}-browser-test-pass" for role in Role}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SUBJECT = "Lin-Manuel Miranda"
REFERENCE = "HAM-2026-001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    server: object  # vigil.cli.server.BackgroundServer


def _seed(context, photos: Path) -> None:
    """Users, an authorization, a watchlist with Lin-Manuel Miranda (real ONNX enrollment)."""
    from vigil.services.cases import CaseSetup, open_case
    from vigil.services.users import create_user

    create_role_users(context.db, PASSWORDS)
    create_user(context.db, "operator2", Role.operator, PASSWORDS[Role.operator], actor="test")
    case = CaseSetup(
        reference=REFERENCE,
        legal_basis="Test order, art. 1",
        authority="Test court",
        watchlist="Hamilton cast",
        subject=SUBJECT,
        valid_for=timedelta(days=2),
    )
    open_case(context, case, [photos / "lin-manuel-miranda.png"], actor="test")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, onnx_models, photos, hamilton_clip) -> Iterator[Live]:
    from vigil.cli.server import BackgroundServer, ServeOptions
    from vigil.context import build_context

    if not hamilton_clip.exists():
        pytest.skip(f"the Hamilton clip is missing at {hamilton_clip}")
    home = tmp_path_factory.mktemp("browser") / "home"
    det, emb = onnx_models
    settings = load_settings(
        {
            "VIGIL_HOME": str(home),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": str(det),
            "VIGIL_ONNX_EMBEDDER": str(emb),
        },
        server={"secret_key": secrets.token_urlsafe(48), "secure_cookies": False},
        cameras=[{"name": "hamilton", "url": str(hamilton_clip), "max_fps": 5.0}],
    )
    context = build_context(settings)
    _seed(context, photos)
    server = BackgroundServer(
        settings,
        ServeOptions("127.0.0.1", free_port(), loop_files=True, log_level="warning"),
        context=context,
    ).start()
    yield Live(server.url, server)
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium_path: Path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (dev extra)"
    )
    sync_playwright = sync_api.sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
def _sessions(browser, live_server: Live):
    """One logged-in browser context per user for the module (logins are throttled per client)."""
    contexts: dict[str, object] = {}
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture()
def log_in(browser, live_server: Live, _sessions):
    """``log_in(username)``: a new page of that user's browser context, logged in through the
    real login form the first time; the page is at the user's start page."""
    pages = []

    def login(username: str):
        context = _sessions.get(username)
        if context is None:
            role = Role(username) if username in Role.__members__ else Role.operator
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            submit_login(page, live_server.url, username, PASSWORDS[role])
            page.wait_for_url(lambda url: "/login" not in url)
            _sessions[username] = context
        else:
            page = context.new_page()
            page.goto(f"{live_server.url}/")
        pages.append(page)
        return page

    yield login
    for page in pages:
        page.close()
