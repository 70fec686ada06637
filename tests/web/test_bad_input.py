"""Client mistakes get a clear 4xx that names the problem; never a 500, never a stack trace."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vigil.domain.enums import Role
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow

MAX_BYTES = 60_000  # max_image_bytes for these tests


def _jpeg(size: int = 64, noise: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    pixels = (
        rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        if noise
        else np.full((size, size, 3), 90, np.uint8)
    )
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header declares billions of pixels."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature + length/type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def _solid(fmt: str, size: tuple[int, int] = (32, 32), mode: str = "RGB") -> bytes:
    """A real, valid image of one colour in ``fmt`` (large sizes: a tiny-file pixel bomb)."""
    buf = io.BytesIO()
    Image.new(mode, size, 200).save(buf, fmt)
    return buf.getvalue()


def _watchlist(env: Any) -> int:
    now = utcnow()
    AuthorizationService(env.context.db).create(
        AuthorizationInput(
            "REF-1", "missing_person", "court order", "Court", now + timedelta(days=3)
        ),
        actor="t",
    )
    return WatchlistService(env.context.db, env.context.cipher).create("wl", "REF-1", actor="t").id


@pytest.fixture()
def upload_env(env_factory: Any) -> Any:
    return env_factory(max_image_bytes=MAX_BYTES)


@pytest.fixture()
def watchlist_id(upload_env: Any) -> int:
    return _watchlist(upload_env)


@pytest.fixture(scope="module")
def shared_upload(module_env_factory: Any) -> tuple[Any, int, Any]:
    """One environment for the read-only bad-upload table: (env, watchlist id, client)."""
    e = module_env_factory(max_image_bytes=MAX_BYTES)
    return e, _watchlist(e), e.token_client(Role.supervisor)


@pytest.fixture(scope="module")
def admin_client(module_env: Any) -> Any:
    return module_env.token_client(Role.admin)


UPLOAD_CASES = [
    # (id, files, expected status, reason, message fragment)
    (
        "text-file",
        [("notes.txt", b"hello there", "text/plain")],
        422,
        "not_an_image",
        "'text/plain'",
    ),
    ("no-content-type", [("x.jpg", _jpeg(), "")], 422, "not_an_image", "not an image"),
    (
        "random-bytes",
        [("fake.jpg", b"\x00\x01garbage" * 50, "image/jpeg")],
        422,
        "not_an_image",
        "not an image file",
    ),
    (
        "truncated-jpeg",
        [("cut.jpg", _jpeg(128, noise=True)[:3000], "image/jpeg")],
        422,
        "unreadable",
        "cut short",
    ),
    ("decompression-bomb", [("bomb.png", _png_bomb(), "image/png")], 422, "too_large", "pixels"),
    (
        "over-max-bytes",
        [("big.jpg", _jpeg(400, noise=True), "image/jpeg")],
        422,
        "too_large",
        "max_image_bytes",
    ),
    ("empty-file", [("empty.jpg", b"", "image/jpeg")], 422, "not_an_image", "empty"),
    (
        "36-mpx-solid-png",  # 48 KB, under the old 40 Mpx cap: refused from the header now
        [("solid.png", _solid("PNG", (6000, 6000), "L"), "image/png")],
        422,
        "too_large",
        "6000x6000",
    ),
    ("tiff", [("x.tif", _solid("TIFF"), "image/tiff")], 422, "unsupported_format", "TIFF"),
    ("bmp", [("x.bmp", _solid("BMP"), "image/bmp")], 422, "unsupported_format", "BMP"),
    ("gif", [("x.gif", _solid("GIF", mode="P"), "image/gif")], 422, "unsupported_format", "GIF"),
    ("webp", [("x.webp", _solid("WEBP"), "image/webp")], 422, "unsupported_format", "WebP"),
    (
        "eps",
        [("x.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n" + b"0" * 100, "image/x-eps")],
        422,
        "unsupported_format",
        "EPS",
    ),
]


@pytest.mark.parametrize(
    ("files", "status", "reason", "fragment"),
    [c[1:] for c in UPLOAD_CASES],
    ids=[c[0] for c in UPLOAD_CASES],
)
def test_bad_photo_uploads(
    shared_upload: tuple, files: list, status: int, reason: str, fragment: str
) -> None:
    assert len(_jpeg(400, noise=True)) > MAX_BYTES  # the oversized case really is oversized
    _env, watchlist_id, c = shared_upload
    r = c.post(
        f"/api/watchlists/{watchlist_id}/subjects",
        data={"name": "Jane Roe"},
        files=[("photos", f) for f in files],
    )
    assert r.status_code == status, r.text
    body = r.json()
    assert [p["reason"] for p in body["photos"]] == [reason]
    assert fragment in body["message"]
    assert c.get(f"/api/watchlists/{watchlist_id}/subjects").json() == []  # nothing half-stored


def test_good_and_bad_photos_give_per_photo_feedback(upload_env: Any, watchlist_id: int) -> None:
    c = upload_env.client(Role.supervisor)
    files = [
        ("photos", ("front.jpg", _jpeg(), "image/jpeg")),
        ("photos", ("noface.jpg", _jpeg(), "image/jpeg")),
        ("photos", ("doc.pdf", b"%PDF-1.4", "application/pdf")),
    ]
    r = c.post(f"/api/watchlists/{watchlist_id}/subjects", data={"name": "Jane Roe"}, files=files)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [(p["photo"], p["accepted"], p["reason"]) for p in body["photos"]] == [
        ("front.jpg", True, None),
        ("noface.jpg", False, "no_face"),
        ("doc.pdf", False, "not_an_image"),
    ]
    assert body["subject"]["name"] == "Jane Roe" and body["subject"]["templates"] == 1


def test_declared_content_length_over_limit_is_refused_before_reading(shared_upload: tuple) -> None:
    _env, watchlist_id, c = shared_upload
    r = c.post(
        f"/api/watchlists/{watchlist_id}/subjects",
        content=b"x" * 100,
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(10**9)},
    )
    assert r.status_code == 413
    assert "larger than" in r.json()["message"]


def test_streamed_body_over_limit_is_refused_while_reading(shared_upload: tuple) -> None:
    _env, watchlist_id, c = shared_upload
    limit = MAX_BYTES

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
        yield b"Content-Type: image/jpeg\r\n\r\n"
        for _ in range(limit * 12 // 65536 + 2):
            yield b"\xff" * 65536

    r = c.post(
        f"/api/watchlists/{watchlist_id}/subjects",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    assert "larger than" in r.json()["message"]


def test_json_sent_to_the_upload_route(shared_upload: tuple) -> None:
    _env, watchlist_id, c = shared_upload
    r = c.post(f"/api/watchlists/{watchlist_id}/subjects", json={"name": "x"})
    assert r.status_code == 415
    assert (
        "multipart/form-data" in r.json()["message"] and "'application/json'" in r.json()["message"]
    )


def test_upload_form_without_fields(shared_upload: tuple) -> None:
    _env, watchlist_id, c = shared_upload
    r = c.post(
        f"/api/watchlists/{watchlist_id}/subjects", files={"other": ("a.txt", b"x", "text/plain")}
    )
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["fields"]} == {"name", "photos"}


def test_too_many_photos(shared_upload: tuple) -> None:
    files = [("photos", (f"p{i}.jpg", _jpeg(), "image/jpeg")) for i in range(11)]
    _env, watchlist_id, c = shared_upload
    r = c.post(f"/api/watchlists/{watchlist_id}/subjects", data={"name": "x"}, files=files)
    assert r.status_code == 400 and "at most 10" in r.json()["message"]


def test_enrolling_under_a_revoked_authorization_is_refused(
    upload_env: Any, watchlist_id: int
) -> None:
    c = upload_env.client(Role.supervisor)
    auth_id = c.get("/api/authorizations").json()[0]["id"]
    assert c.post(f"/api/authorizations/{auth_id}/revoke").status_code == 200
    r = c.post(
        f"/api/watchlists/{watchlist_id}/subjects",
        data={"name": "x"},
        files=[("photos", ("a.jpg", _jpeg(), "image/jpeg"))],
    )
    assert r.status_code == 409 and "revoked" in r.json()["message"]


JSON_CASES = [
    (
        "malformed-json",
        "POST",
        "/api/authorizations",
        b'{"reference": "A-1",',
        422,
        "not valid JSON at character",
    ),
    (
        "unknown-field",
        "POST",
        "/api/cameras",
        b'{"name": "c1", "url": "rtsp://h/x", "colour": "red"}',
        422,
        "colour",
    ),
    (
        "wrong-type",
        "POST",
        "/api/cameras",
        b'{"name": "c1", "url": "rtsp://h/x", "max_fps": "fast"}',
        422,
        "max_fps",
    ),
    (
        "out-of-range",
        "POST",
        "/api/cameras",
        b'{"name": "c1", "url": "rtsp://h/x", "max_fps": 1000}',
        422,
        "max_fps",
    ),
    ("bad-name", "POST", "/api/cameras", b'{"name": "a b/c", "url": "rtsp://h/x"}', 422, "name"),
    (
        "bad-purpose",
        "POST",
        "/api/authorizations",
        b'{"reference": "A", "purpose": "protest_monitoring", "legal_basis": "x", "authority": "y",'
        b' "expires_at": "2099-01-01T00:00:00Z"}',
        422,
        "purpose",
    ),
    (
        "expired-window",
        "POST",
        "/api/authorizations",
        b'{"reference": "A", "purpose": "missing_person", "legal_basis": "x", "authority": "y",'
        b' "expires_at": "2001-01-01T00:00:00Z"}',
        400,
        "expiry",
    ),
    (
        "bad-date",
        "POST",
        "/api/authorizations",
        b'{"reference": "A", "purpose": "missing_person", "legal_basis": "x", "authority": "y",'
        b' "expires_at": "next tuesday"}',
        422,
        "expires_at",
    ),
    (
        "unknown-watchlist-authorization",
        "POST",
        "/api/watchlists",
        b'{"name": "w", "authorization_reference": "NOPE"}',
        404,
        "NOPE",
    ),
    ("bad-role", "POST", "/api/users", b'{"username": "abc", "role": "god"}', 422, "role"),
    ("bad-audit-time", "GET", "/api/audit?since=yesterday", b"", 422, "since"),
    ("naive-audit-time", "GET", "/api/audit?since=2026-01-01T00:00:00", b"", 200, ""),
    ("date-only-audit-time", "GET", "/api/audit?since=2026-01-01", b"", 200, ""),
    (
        "naive-expiry",
        "POST",
        "/api/authorizations",
        b'{"reference": "N-1", "purpose": "missing_person", "legal_basis": "x", "authority": "y",'
        b' "expires_at": "2001-01-01T00:00:00"}',
        400,
        "expiry",
    ),
    ("unknown-alert", "GET", "/api/alerts/987654", b"", 404, "987654"),
    ("unknown-camera", "PATCH", "/api/cameras/987654", b'{"max_fps": 2}', 404, "987654"),
    ("unknown-authorization", "POST", "/api/authorizations/987654/revoke", b"", 404, "987654"),
    ("unknown-subject", "DELETE", "/api/subjects/987654", b"", 404, "987654"),
    ("unknown-user", "PATCH", "/api/users/987654", b'{"active": false}', 404, "987654"),
    ("unknown-token", "DELETE", "/api/tokens/987654", b"", 404, "987654"),
    ("non-numeric-id", "GET", "/api/alerts/abc", b"", 422, "alert_id"),
    ("unknown-route", "GET", "/api/nothing-here", b"", 404, "no such page"),
    ("wrong-method", "DELETE", "/api/audit", b"", 405, ""),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [c[1:] for c in JSON_CASES],
    ids=[c[0] for c in JSON_CASES],
)
def test_bad_requests(
    admin_client: Any, method: str, path: str, body: bytes, status: int, fragment: str
) -> None:
    c = admin_client
    r = c.request(method, path, content=body or None, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    if status == 200:
        return
    payload = r.json()
    assert fragment in payload["message"]
    if status == 422 and path != "/api/watchlists":
        assert payload["fields"], "validation errors name their fields"


def test_validation_errors_never_echo_the_input(env: Any) -> None:
    r = env.client().post("/api/auth/login", json={"username": "x", "password": 12345678901234})
    assert r.status_code == 422
    assert "12345678901234" not in r.text


def test_unexpected_errors_are_generic_and_logged(
    env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(env.state.cameras, "list", boom)
    r = env.client(Role.admin).get("/api/cameras")
    assert r.status_code == 500
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert "internal error" in r.json()["message"]
    assert "hunter2" in caplog.text


HOSTILE_IDS = ["0", "-1", str(10**30), "1e3", "%00"]
HOSTILE_BODIES: list[Any] = [
    {},
    [],
    "x",
    {"name": "\x00abc", "url": "\x00", "username": "a" * 5000, "reference": "R" * 200},
    {"user_id": 10**30, "name": "t", "role": None, "active": None},
    {
        "expires_at": "9999-12-31T23:59:59+14:00",
        "reference": "Y",
        "purpose": "missing_person",
        "legal_basis": "a",
        "authority": "b",
        "valid_from": "0001-01-01T00:00:00",
        "cameras": [],
    },
    {"name": "cam", "url": "rtsp://" + "a" * 1990, "max_fps": 1e-300},
    {
        "decision": "reject",
        "reason": "\x00",
        "preview_blur": "yes",
        "authorization_reference": "\x00",
    },
]


def test_no_server_error_for_any_client_mistake(module_env_factory: Any) -> None:
    """Hostile ids and bodies on every API route: 4xx (503 without a camera runtime), never 500."""
    import re

    from fastapi import routing

    env = module_env_factory()
    client = env.token_client(Role.admin)
    failures = []
    for ctx in routing.iter_route_contexts(env.app.routes):
        if not ctx.path.startswith("/api"):
            continue
        for method in sorted((getattr(ctx.route, "methods", None) or set()) - {"HEAD"}):
            for ident in HOSTILE_IDS if "{" in ctx.path else [""]:
                url = re.sub(r"\{[^}]+\}", ident, ctx.path)
                for body in HOSTILE_BODIES if method in ("POST", "PUT", "PATCH") else [None]:
                    r = client.request(method, url, json=body)
                    if r.status_code >= 500 and r.status_code != 503:
                        failures.append(f"{method} {url[:50]} {str(body)[:40]} -> {r.status_code}")
    for query in ({"before_id": 10**30}, {"camera": "\x00"}, {"limit": 10**30}):
        r = client.get("/api/alerts", params=query)
        if r.status_code >= 500:
            failures.append(f"GET /api/alerts {query} -> {r.status_code}")
    assert failures == []


def test_oversized_json_body_is_refused(admin_client: Any) -> None:
    from vigil.web.app import JSON_BODY_LIMIT

    body = b'{"name": "' + b"a" * (JSON_BODY_LIMIT + 10) + b'"}'
    r = admin_client.post(
        "/api/cameras", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "larger than" in r.json()["message"]
