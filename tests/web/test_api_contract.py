"""Issue 13, Low: the OpenAPI spec declares the error answers, and inputs are strictly typed."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.domain.enums import Role


@pytest.fixture()
def spec(env: Any) -> dict[str, Any]:
    return env.client(Role.admin).get("/api/openapi.json").json()


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("post", "/api/cameras", {"400", "401", "403", "409", "422", "503"}),
        ("get", "/api/alerts/{alert_id}", {"401", "403", "404", "422"}),
        ("post", "/api/watchlists/{watchlist_id}/subjects", {"404", "413", "415", "422"}),
        ("post", "/api/auth/login", {"401", "422", "429"}),
        ("post", "/api/authorizations/{auth_id}/revoke", {"404", "409"}),
    ],
)
def test_routes_declare_their_error_answers(
    spec: dict[str, Any], method: str, path: str, codes: set[str]
) -> None:
    declared = set(spec["paths"][path][method]["responses"])
    assert codes <= declared
    schema = spec["paths"][path][method]["responses"]["404"]["content"]["application/json"]
    assert schema["schema"]["$ref"].endswith("/ErrorBody")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "c1", "url": "rtsp://cam.example/s", "max_fps": True}, 422),
        ({"name": "c2", "url": "rtsp://cam.example/s", "enabled": "yes"}, 422),
        ({"name": "c3", "url": "rtsp://cam.example/s", "enabled": 1}, 422),
        ({"name": "c4", "url": "not a url at all"}, 422),
        ({"name": "c5", "url": "ftp://cam.example/s"}, 422),
        ({"name": "c6", "url": "rtsp:///no-host"}, 422),
        ({"name": "c7", "url": "rtsp://192.0.2.7/s", "max_fps": 2}, 201),
    ],
)
def test_camera_inputs_are_strict(env: Any, body: dict[str, Any], status: int) -> None:
    r = env.client(Role.admin).post("/api/cameras", json=body)
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("until", "status"),
    [("0.5", 422), ("1700000000", 422), ("yesterday", 422), ("2026-03-01T10:00:00Z", 200)],
)
def test_times_are_iso_8601_only(env: Any, until: str, status: int) -> None:
    r = env.client(Role.admin).get("/api/audit", params={"until": until})
    assert r.status_code == status, r.text


def test_settings_take_a_real_boolean(env: Any) -> None:
    r = env.client(Role.admin).put("/api/settings", json={"preview_blur": "true"})
    assert r.status_code == 422
