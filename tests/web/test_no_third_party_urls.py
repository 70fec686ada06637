"""No page, script, style or icon the dashboard serves names a URL on another host.

Every HTML page the app routes (as an admin, plus the anonymous login page and the report), every
static file the pages reference and every file in the static folder are fetched; any http(s) or
protocol-relative URL whose host is not the server itself fails the test, except the XML
namespaces listed in HARMLESS (strings a browser never fetches).
"""

from __future__ import annotations

import re
from importlib.resources import files
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from conftest import Env, store_alert
from vigil.domain.enums import Role
from vigil.web.pages import PAGES

URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.\-\[\]:]+[^\s"'<>)]*""", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)="(/[^"/][^"]*)\"""")
HARMLESS = {
    # XML namespace names: identifiers inside SVG markup, never requested by a browser.
    "http://www.w3.org/2000/svg": "SVG namespace",
    "http://www.w3.org/1999/xlink": "XLink namespace",
}
LOCAL_HOSTS = {"testserver", "127.0.0.1", "localhost"}


def foreign_urls(text: str) -> list[str]:
    """URLs in ``text`` that point at a host other than the server itself."""
    found = []
    for match in URL.finditer(text):
        url = match.group(0)
        if url.rstrip("/") in HARMLESS or url in HARMLESS:
            continue
        if url.startswith("//") and not re.match(r"//[A-Za-z0-9-]+\.[A-Za-z]", url):
            continue  # a "//" comment or path joint in JS/CSS, not a protocol-relative URL
        host = urlsplit(url if "://" in url else "http:" + url).hostname or ""
        if host not in LOCAL_HOSTS:
            found.append(url)
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<script src="https://cdn.jsdelivr.net/npm/swagger-ui.js"></script>', 1),
        ('<link href="//fonts.googleapis.com/css?family=Inter">', 1),
        ("fetch('http://tracker.example.org/p')", 1),
        ('<svg xmlns="http://www.w3.org/2000/svg"></svg>', 0),
        ('<a href="http://testserver/alerts">', 0),
        ("const a = 1; // a comment", 0),
        ('<img src="/static/favicon.svg">', 0),
    ],
)
def test_the_detector_finds_foreign_urls(text: str, expected: int) -> None:
    assert len(foreign_urls(text)) == expected


def _html_pages(alert_id: int) -> list[str]:
    """Every dashboard page (vigil.web.pages.PAGES) and the routes outside that table."""
    extra = ["/login", "/account/password", f"/alerts/{alert_id}", "/report"]
    paths = [p.path for p in PAGES if "{" not in p.path] + extra
    assert "/live" in paths and "/users" in paths, paths  # the table still holds the pages
    return paths


def test_no_page_or_asset_names_a_third_party_url(env: Env) -> None:
    alert_id = store_alert(env)
    admin = env.client(Role.admin)
    anonymous: TestClient = env.client()
    bodies: dict[str, str] = {}
    assets: set[str] = set()
    for path in _html_pages(alert_id):
        client = anonymous if path == "/login" else admin
        r = client.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        assert r.headers["content-type"].startswith("text/html"), path
        bodies[path] = r.text
        assets.update(ASSET.findall(r.text))
    static = files("vigil.web") / "static"
    assets.update(f"/static/{f.name}" for f in static.iterdir() if f.is_file())
    for asset in sorted(assets):
        r = admin.get(asset)
        if r.status_code == 200 and "image/png" not in r.headers.get("content-type", ""):
            bodies[asset] = r.text
    assert {"/static/vigil.js", "/static/vigil.css", "/report"} <= set(bodies)
    offenders = {path: foreign_urls(text) for path, text in bodies.items()}
    assert not {p: u for p, u in offenders.items() if u}, offenders


def test_the_swagger_ui_is_not_served(env: Env) -> None:
    """FastAPI's docs pages load Swagger UI / ReDoc from a CDN: Vigil serves neither; the OpenAPI
    document stays available to logged-in users."""
    admin = env.client(Role.admin)
    for path in ("/api/docs", "/docs", "/redoc", "/api/redoc"):
        assert admin.get(path).status_code == 404, path
    r = admin.get("/api/openapi.json")
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")


def test_every_response_carries_a_same_origin_only_csp(env: Env) -> None:
    admin = env.client(Role.admin)
    for path in ("/live", "/api/openapi.json", "/login"):
        csp = admin.get(path).headers["content-security-policy"]
        assert "http" not in csp, (path, csp)
