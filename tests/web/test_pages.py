"""Dashboard pages: login redirects, role gates (a clear 403 page), navigation, static files."""

from __future__ import annotations

import pytest

from vigil.domain.enums import Role
from vigil.services.users import create_user


@pytest.fixture(scope="module")
def as_role(module_env):
    """One logged-in client per role for the module (logins are throttled per client address)."""
    clients = {role: module_env.client(role) for role in Role}
    return clients.__getitem__


A, S, OP, U, M = Role.admin, Role.supervisor, Role.operator, Role.auditor, Role.maintainer
PAGE_ACCESS = [
    # path, roles that may open it
    ("/live", {A, S, OP}),
    ("/alerts", {A, S, OP}),
    ("/alerts/1", {A, S, OP}),
    ("/watchlists", {A, S, U}),
    ("/authorizations", {A, S, U}),
    ("/cameras", {A, S, OP, U, M}),
    ("/users", {A}),
    ("/audit", {A, U}),
    ("/approvals", {A, S}),
    ("/logs", {A, U, M}),
]


@pytest.mark.parametrize("path", [p for p, _ in PAGE_ACCESS] + ["/"])
def test_anonymous_visitors_are_sent_to_login(module_env, path: str) -> None:
    r = module_env.client().get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "allowed"), PAGE_ACCESS)
def test_role_gates(as_role, role: Role, path: str, allowed: set[Role]) -> None:
    r = as_role(role).get(path)
    if role in allowed:
        assert r.status_code == 200, r.text[:300]
        assert "<main" in r.text
    else:
        assert r.status_code == 403
        assert "Not allowed" in r.text
        assert f"Your role <b>{role.value}</b>" in r.text


def test_operator_gets_a_clear_refusal_for_authorizations(as_role) -> None:
    r = as_role(Role.operator).get("/authorizations")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="forbidden"' in r.text
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.admin, "/live"),
        (Role.operator, "/live"),
        (Role.auditor, "/audit"),
        (Role.maintainer, "/cameras"),
    ],
)
def test_root_goes_to_the_roles_start_page(as_role, role: Role, home: str) -> None:
    r = as_role(role).get("/")
    assert r.status_code == 303
    assert r.headers["location"] == home


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (Role.admin, ["/users", "/audit", "/live"], []),
        (Role.operator, ["/live", "/alerts"], ["/users", "/audit", "/authorizations"]),
        (Role.auditor, ["/audit", "/report"], ["/live", "/alerts", "/users"]),
        (
            Role.maintainer,
            ["/cameras", "/logs"],
            ["/live", "/alerts", "/watchlists", "/audit", "/users", "/approvals"],
        ),
        (Role.supervisor, ["/approvals", "/cameras"], ["/users", "/logs", "/audit"]),
    ],
)
def test_navigation_shows_only_pages_the_role_can_open(as_role, role, present, absent) -> None:
    html = as_role(role).get("/cameras").text
    for path in present:
        assert f'href="{path}"' in html
    for path in absent:
        assert f'href="{path}"' not in html


def test_page_carries_the_sessions_csrf_token(as_role) -> None:
    client = as_role(Role.operator)
    html = client.get("/live").text
    assert f'<meta name="csrf-token" content="{client.cookies.get("vigil_csrf")}">' in html


def test_one_time_password_user_is_sent_to_change_it(env) -> None:
    _, password = create_user(env.context.db, "newbie", Role.operator, actor="test")
    client = env.client()
    r = client.post("/api/auth/login", json={"username": "newbie", "password": password})
    assert r.status_code == 200
    r = client.get("/live")
    assert r.status_code == 303
    assert r.headers["location"] == "/account/password"
    page = client.get("/account/password")
    assert page.status_code == 200
    assert "one-time password" in page.text


@pytest.mark.parametrize(
    ("next_param", "expected"),
    [("/alerts", "/alerts"), ("//evil.example/x", "/live"), ("https://evil.example", "/live")],
)
def test_login_page_redirects_logged_in_users_only_to_local_paths(
    as_role, next_param, expected
) -> None:
    r = as_role(Role.operator).get("/login", params={"next": next_param})
    assert r.status_code == 303
    assert r.headers["location"] == expected


def test_login_page_renders_for_anonymous(module_env) -> None:
    r = module_env.client().get("/login", params={"next": "/alerts"})
    assert r.status_code == 200
    assert 'id="login-form"' in r.text
    assert 'data-next="/alerts"' in r.text


@pytest.mark.parametrize(
    ("name", "status", "type_"),
    [
        ("vigil.css", 200, "text/css"),
        ("vigil.js", 200, "text/javascript"),
        ("live.js", 200, "text/javascript"),
        ("missing.js", 404, None),
        (".hidden.css", 404, None),
        ("..%2Fpages.py", 404, None),
    ],
)
def test_static_files(module_env, name: str, status: int, type_: str | None) -> None:
    r = module_env.client().get(f"/static/{name}")
    assert r.status_code == status
    if type_:
        assert r.headers["content-type"].startswith(type_)


def test_every_page_script_and_template_exists(as_role) -> None:
    """Each page's HTML names scripts that the static route actually serves."""
    client = as_role(Role.admin)
    checked = 0
    for path, _ in PAGE_ACCESS:
        html = client.get(path).text
        for src in [part.split('"')[0] for part in html.split('<script src="')[1:]]:
            assert client.get(src).status_code == 200, f"{path} loads missing {src}"
            checked += 1
    assert checked, "no page named a script: the check ran zero times"


def test_the_forced_password_page_opens_no_live_feed(env) -> None:
    """The socket would refuse a user who still has a one-time password (403 twice in the
    browser console): the page must not try."""
    _, password = create_user(env.context.db, "fresh-op", Role.operator, actor="test")
    client = env.client()
    assert client.post("/api/auth/login", json={"username": "fresh-op", "password": password})
    forced = client.get("/account/password")
    assert forced.status_code == 200 and "one-time password" in forced.text
    assert 'id="live-dot"' not in forced.text and 'id="alert-counter"' not in forced.text
    normal = env.client(Role.operator).get("/account/password")  # a changed password: feed on
    assert 'id="live-dot"' in normal.text and 'id="alert-counter"' in normal.text


def test_favicon_is_served_from_the_package(module_env) -> None:
    r = module_env.client().get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.lstrip().startswith(b"<svg")


def test_every_page_links_the_icon(as_role) -> None:
    html = as_role(Role.admin).get("/live").text
    assert '<link rel="icon" href="/favicon.ico"' in html


@pytest.mark.parametrize(
    ("status", "pill"),
    [("confirmed", "ok"), ("candidate", "warn"), ("revoked", "bad"), ("failed", "bad")],
)
def test_status_pill_colours(module_env, status: str, pill: str) -> None:
    """Red is for what needs attention; a confirmed alert is done, so it is green."""
    script = module_env.client().get("/static/vigil.js").text
    assert f'{status}: "{pill}"' in script


def test_the_report_page_uses_the_dashboard_layout(as_role) -> None:
    page = as_role(Role.auditor).get("/report")
    assert page.status_code == 200
    assert '<link rel="stylesheet" href="/static/vigil.css">' in page.text
    assert 'class="sidebar"' in page.text and 'id="nav-report"' in page.text
    assert 'id="report"' in page.text and "<svg" in page.text
    assert "<style>" not in page.text  # not the standalone download's own stylesheet
