"""Issue 13, Low: Secure cookies by default, a CSP and the usual headers on every response."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.config import ServerConfig
from vigil.domain.enums import Role
from vigil.web.security import CSRF_COOKIE, SESSION_COOKIE


def test_safe_defaults() -> None:
    server = ServerConfig()
    assert server.secure_cookies is True
    assert server.metrics_public is False
    assert server.trusted_proxies == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/health", 200),
        ("/login", 200),
        ("/static/vigil.css", 200),
        ("/metrics", 401),
        ("/api/no-such-route", 404),
    ],
)
def test_every_response_carries_the_headers(env: Any, path: str, status: int) -> None:
    r = TestClient(env.app, follow_redirects=False).get(path)
    assert r.status_code == status
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp  # no inline or foreign scripts on these
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "camera=()" in r.headers["permissions-policy"]


def test_secure_deployments_send_secure_cookies_and_hsts(env_factory: Any) -> None:
    env = env_factory(server={"secure_cookies": True})
    c = TestClient(env.app, base_url="https://testserver")
    r = c.post(
        "/api/auth/login",
        json={"username": "operator", "password": "operator-correct-horse-battery"},
    )
    assert r.status_code == 200
    cookies = {h.split("=", 1)[0]: h.lower() for h in r.headers.get_list("set-cookie")}
    assert "; secure" in cookies[SESSION_COOKIE] and "; secure" in cookies[CSRF_COOKIE]
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert c.get("/api/auth/me").json()["role"] == Role.operator.value
