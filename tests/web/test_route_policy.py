"""Every route of the app against every role and an anonymous caller, from a declared policy.

A route without an entry in POLICY (API + metrics) or NON_API (pages, WebSocket, reports) fails
this test, so nobody can add an endpoint without deciding who may use it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from vigil.domain.enums import Role

A, S, OP, U, M = Role.admin, Role.supervisor, Role.operator, Role.auditor, Role.maintainer
ALL = frozenset(Role)
MANAGERS = frozenset({A, S})
REVIEWERS = frozenset({A, S, OP})
PUBLIC = None  # anonymous callers allowed

POLICY: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): ALL,
    ("GET", "/api/auth/me"): ALL,
    ("POST", "/api/auth/password"): ALL,
    ("GET", "/api/openapi.json"): ALL,
    ("GET", "/api/egress"): frozenset({A, U}),
    ("GET", "/api/users"): frozenset({A}),
    ("POST", "/api/users"): frozenset({A}),
    ("PATCH", "/api/users/{user_id}"): frozenset({A}),
    ("POST", "/api/users/{user_id}/reset-password"): frozenset({A}),
    ("POST", "/api/users/maintainers"): frozenset({A}),
    ("POST", "/api/users/{user_id}/approve"): MANAGERS,  # never the creator (test_maintainer)
    ("GET", "/api/users/maintainers/pending"): MANAGERS,  # what a supervisor may approve
    ("GET", "/api/tokens"): ALL,  # an admin sees every token, others their own
    ("POST", "/api/tokens"): ALL,  # a token for oneself only (tests/web/test_credentials.py)
    ("DELETE", "/api/tokens/{token_id}"): ALL,  # an admin: any token; others: their own
    ("GET", "/api/authorizations"): MANAGERS | {U},
    ("POST", "/api/authorizations"): MANAGERS,
    ("GET", "/api/authorizations/{auth_id}"): MANAGERS | {U},
    ("POST", "/api/authorizations/{auth_id}/revoke"): MANAGERS,
    ("POST", "/api/authorizations/{auth_id}/refuse"): MANAGERS,
    ("GET", "/api/watchlists"): MANAGERS | {U},
    ("POST", "/api/watchlists"): MANAGERS,
    ("GET", "/api/watchlists/{watchlist_id}/subjects"): MANAGERS,
    ("POST", "/api/watchlists/{watchlist_id}/subjects"): MANAGERS,
    ("DELETE", "/api/subjects/{subject_id}"): MANAGERS,
    ("GET", "/api/subjects/{subject_id}/photo"): MANAGERS,
    ("GET", "/api/cameras"): ALL,
    ("GET", "/api/cameras/{camera_id}"): ALL,
    ("POST", "/api/cameras"): MANAGERS,
    ("PATCH", "/api/cameras/{camera_id}"): MANAGERS,
    ("DELETE", "/api/cameras/{camera_id}"): MANAGERS,
    ("POST", "/api/cameras/{camera_id}/test"): MANAGERS,
    ("POST", "/api/cameras/test"): MANAGERS,
    ("POST", "/api/cameras/{camera_id}/start"): MANAGERS | {M},  # a maintainer restarts
    ("POST", "/api/cameras/{camera_id}/stop"): MANAGERS | {M},
    ("POST", "/api/cameras/{camera_id}/restart"): MANAGERS | {M},
    ("GET", "/api/cameras/{camera_id}/preview"): REVIEWERS,
    ("GET", "/api/alerts"): REVIEWERS,
    ("GET", "/api/alerts/awaiting"): REVIEWERS,
    ("GET", "/api/alerts/{alert_id}"): REVIEWERS,
    ("GET", "/api/alerts/{alert_id}/crop"): REVIEWERS,
    ("GET", "/api/alerts/{alert_id}/sightings/{sighting_id}/crop"): REVIEWERS,
    ("GET", "/api/alerts/{alert_id}/enrolled-photo"): REVIEWERS,
    ("POST", "/api/alerts/{alert_id}/reviews"): REVIEWERS,
    ("POST", "/api/alerts/{alert_id}/sightings/{ordinal}/reject"): REVIEWERS,
    ("GET", "/api/audit"): frozenset({U, A}),
    # this process's recent log records, no personal data (tests/web/test_logs_api.py)
    ("GET", "/api/logs"): frozenset({A, U, M}),
    ("GET", "/api/settings"): ALL,
    ("PUT", "/api/settings"): frozenset({A}),
    ("GET", "/api/outbound"): frozenset({A}),
    ("GET", "/api/report"): ALL,  # vigil.web.report_routes: transparency report, every role
    ("GET", "/metrics"): ALL,  # public only if configured; see test_metrics_can_require_login
}

# Routes owned by the dashboard and accountability modules: "public" or "login" (anonymous refused).
NON_API: dict[str, str] = {
    "/ws/alerts": "login",
    "/": "login",
    "/live": "login",
    "/alerts": "login",
    "/alerts/{alert_id}": "login",
    "/watchlists": "login",
    "/authorizations": "login",
    "/cameras": "login",
    "/users": "login",
    "/approvals": "login",
    "/logs": "login",
    "/audit": "login",
    "/account/password": "login",
    "/report": "login",
    "/login": "public",
    "/static/{name}": "public",
    "/favicon.ico": "public",
    # anonymous by design when server.public_report is on, 404 otherwise
    # (tests/web/test_public_transparency.py)
    "/public/transparency": "public",
    "/public/transparency.json": "public",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(app) -> list[tuple[str, str, str]]:
    """(method, path, kind) for every route, flattening included routers."""
    out = []
    for ctx in routing.iter_route_contexts(app.routes):
        route = ctx.route
        path = ctx.path
        if isinstance(route, routing.APIWebSocketRoute) or type(route).__name__ == "WebSocketRoute":
            out.append(("WS", path, "ws"))
            continue
        for method in sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"}):
            out.append((method, path, "http"))
    return out


@pytest.fixture(scope="module")
def clients(module_env: Any) -> dict[Role | None, TestClient]:
    out: dict[Role | None, TestClient] = {role: module_env.token_client(role) for role in Role}
    out[None] = module_env.client()
    return out


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def _call(client: TestClient, method: str, path: str) -> int:
    if method in WRITES and method != "DELETE":
        return client.request(method, _url(path), json={}).status_code
    return client.request(method, _url(path)).status_code


def test_every_route_has_a_policy_entry(module_env: Any) -> None:
    missing = []
    for method, path, _kind in _routes(module_env.app):
        if path.startswith("/api") or path == "/metrics":
            if (method, path) not in POLICY:
                missing.append(f"{method} {path}")
        elif path not in NON_API:
            missing.append(f"{method} {path} (non-API)")
    assert not missing, (
        f"routes without a declared access policy: {missing}; add them to the tables here"
    )
    declared = {(m, p) for m, p, _ in _routes(module_env.app)}
    stale = [key for key in POLICY if key not in declared]
    assert not stale, f"policy entries for routes that no longer exist: {stale}"


@pytest.mark.parametrize("key", sorted(POLICY), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_allows_exactly_its_roles(
    key: tuple[str, str], clients: dict[Role | None, TestClient]
) -> None:
    method, path = key
    allowed = POLICY[key]
    anon = _call(clients[None], method, path)
    if allowed is PUBLIC:
        assert anon not in (401, 403), (
            f"{method} {path} must be open to anonymous callers, got {anon}"
        )
    else:
        assert anon == 401, f"{method} {path}: anonymous caller got {anon}, expected 401"
    for role in Role:
        status = _call(clients[role], method, path)
        if allowed is PUBLIC or role in allowed:
            assert status not in (401, 403), (
                f"{method} {path}: {role.value} should be allowed, got {status}"
            )
            assert status < 500 or status == 503, (
                f"{method} {path}: {role.value} got a server error {status}"
            )
        else:
            assert status == 403, f"{method} {path}: {role.value} should get 403, got {status}"


def test_auditors_can_change_nothing() -> None:
    """Besides their own session and password, no write route admits the auditor role."""
    own = {
        ("POST", "/api/auth/logout"),
        ("POST", "/api/auth/password"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/tokens"),  # their own API tokens
        ("DELETE", "/api/tokens/{token_id}"),
    }
    writable = [
        k
        for k, roles in POLICY.items()
        if k[0] in WRITES and k not in own and (roles is None or U in roles)
    ]
    assert writable == []


# What shows a person, a face or the record of who did what: never for a maintainer.
PERSONAL = re.compile(r"/alerts|/subjects|/watchlists|/authorizations|/audit|/preview|/users")


def test_maintainers_see_no_one() -> None:
    """No route that serves a crop, photo, preview, alert, subject, watchlist, authorization,
    the audit or the user list admits the maintainer role (the table above is what is tested)."""
    personal = [k for k, roles in POLICY.items() if PERSONAL.search(k[1])]
    assert len(personal) > 15  # the pattern still finds those routes
    leaked = [k for k in personal if roles_of(k) and M in roles_of(k)]
    assert leaked == []


def roles_of(key: tuple[str, str]) -> frozenset[Role]:
    return POLICY[key] or ALL


def test_maintainer_writes_only_camera_restarts() -> None:
    own = {
        ("POST", "/api/auth/logout"),
        ("POST", "/api/auth/password"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/tokens"),
        ("DELETE", "/api/tokens/{token_id}"),
    }
    writable = sorted(k for k in POLICY if k[0] in WRITES and k not in own and M in roles_of(k))
    assert writable == [
        ("POST", "/api/cameras/{camera_id}/restart"),
        ("POST", "/api/cameras/{camera_id}/start"),
        ("POST", "/api/cameras/{camera_id}/stop"),
    ]


def test_non_api_routes_refuse_anonymous_callers(
    module_env: Any, clients: dict[Role | None, TestClient]
) -> None:
    checked: list[str] = []
    for method, path, kind in _routes(module_env.app):
        if (
            path.startswith("/api")
            or path == "/metrics"
            or kind == "ws"
            or NON_API.get(path) != "login"
        ):
            continue
        status = _call(clients[None], method, path)
        assert status in (301, 302, 303, 307, 401, 403), (
            f"{method} {path} served an anonymous caller: {status}"
        )
        checked.append(path)
    assert checked, "no page route was checked"


@pytest.mark.parametrize(("public", "anonymous_status"), [(True, 200), (False, 401)])
def test_metrics_can_require_login(env_factory: Any, public: bool, anonymous_status: int) -> None:
    env = env_factory(server={"metrics_public": public})
    anon = TestClient(env.app)
    response = anon.get("/metrics")
    assert response.status_code == anonymous_status
    if public:
        assert "vigil_" in response.text and "text/plain" in response.headers["content-type"]
    assert env.client(Role.auditor).get("/metrics").status_code == 200


def test_metrics_default_to_login(env: Any) -> None:
    assert TestClient(env.app).get("/metrics").status_code == 401
