"""Fixtures for the API tests: a real database (SQLite and PostgreSQL, tests/pg_server.py), the
real app, one user per role.

``make_alert`` stores a real candidate alert through the pipeline's AlertStore (authorization,
watchlist, subject with a sealed template and photo, sealed crop), so the review and image routes
run against the same rows the pipeline writes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pg_server import DatabaseMaker, database_env
from role_users import create_role_users
from sqlite_template import SqliteTemplate
from vigil.config import Settings, load_settings
from vigil.context import AppContext, build_context
from vigil.domain.enums import Role
from vigil.domain.events import AlertEvent, AlertPublic
from vigil.errors import EnrollmentRejected
from vigil.imaging import decode_image, encode_jpeg
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.users import UserService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, GalleryEntry, Match, Quality, ValidatedFace
from vigil.web.app import create_app
from vigil.web.security import CSRF_HEADER

PASSWORDS = {role: f"{role.value}-correct-horse-battery" for role in Role}


def login(client: TestClient, username: str, password: str) -> str:
    """Log ``client`` in; returns the CSRF token and sets it as a default header."""
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token = r.json()["csrf_token"]
    client.headers[CSRF_HEADER] = token
    return token


# The tests' camera policy: the default deny list, with loopback allowed explicitly because the
# tests' RTSP servers and dead-camera probes run on 127.0.0.1. Tests of the policy itself pass
# their own ``sources``.
TEST_SOURCES = {"allowed_networks": ["0.0.0.0/0", "::/0", "127.0.0.0/8"]}


def make_settings(home: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    overrides.setdefault("sources", TEST_SOURCES)
    # The test client speaks plain http://testserver, where Secure cookies are not sent back.
    overrides["server"] = {"secure_cookies": False, **overrides.get("server", {})}
    settings = load_settings({"VIGIL_HOME": str(home), **database_env(database_url)}, **overrides)
    settings.server.secret_key = secrets.token_urlsafe(40)  # type: ignore[assignment]
    return settings


class FakeValidator:
    """Enrollment seam: REAL image decoding (all the bad-input checks), a made-up embedding.

    A photo whose file name contains 'noface' is refused as no_face, like the real validator would.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def validate(self, data: bytes, name: str) -> ValidatedFace:
        image = decode_image(
            data,
            name=name,
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
        )
        if "noface" in name:
            raise EnrollmentRejected("no_face", "no face was found; use a clear photo.", photo=name)
        rng = np.random.default_rng(len(data))
        return ValidatedFace(
            embedding=Embedding.normalised(rng.normal(size=128), self.settings.model_pack),
            quality=Quality(size=1.0, sharpness=1.0, pose=1.0, score=0.9),
            crop_jpeg=encode_jpeg(image[:64, :64].copy()),
            source_name=name,
        )


@dataclass
class Env:
    settings: Settings
    context: AppContext
    bus: AlertBus
    app: FastAPI
    events: list[AlertEvent]

    @property
    def state(self):
        return self.app.state.vigil

    def client(self, role: Role | None = None) -> TestClient:
        """A client logged in (session cookie + CSRF header) as the user of ``role``."""
        c = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        if role is not None:
            login(c, role.value, PASSWORDS[role])
        return c

    def token_client(self, role: Role) -> TestClient:
        """A client authenticated with an API token of the ``role`` user (no cookies)."""
        users = UserService(self.context.db, self.settings.server)
        user = next(u for u in users.list() if u.username == role.value)
        _, secret = users.create_token(user.id, f"test-{role.value}", actor=user.username)
        c = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        c.headers["Authorization"] = f"Bearer {secret}"
        return c


def build_env(
    home: Path,
    *,
    database_url: str | None = None,
    supervisor: object = None,
    supervisor_factory: Callable[[AppContext, AlertBus], object] | None = None,
    sqlite_template: SqliteTemplate | None = None,
    **overrides: object,
) -> Env:
    settings = make_settings(home, database_url, **overrides)
    if sqlite_template is not None:
        sqlite_template.seed(settings)  # SQLite: a copy of the migrated template, not a migration
    context = build_context(settings)
    bus = AlertBus()
    events: list[AlertEvent] = []
    bus.subscribe(events.append)
    if supervisor_factory is not None:
        supervisor = supervisor_factory(context, bus)
    app = create_app(settings, context=context, bus=bus, supervisor=supervisor)  # type: ignore[arg-type]
    app.state.vigil.validator_factory = lambda: FakeValidator(settings)
    create_role_users(context.db, PASSWORDS)
    return Env(settings, context, bus, app, events)


@pytest.fixture()
def env(tmp_path: Path, database_url: str | None, sqlite_template: SqliteTemplate) -> Iterator[Env]:
    e = build_env(tmp_path / "home", database_url=database_url, sqlite_template=sqlite_template)
    yield e
    e.state.close()
    e.context.close()


def _factory(
    root: Path, databases: DatabaseMaker, template: SqliteTemplate
) -> tuple[Callable[..., Env], list[Env]]:
    built: list[Env] = []

    def build(**overrides: object) -> Env:
        home = root / f"home{len(built)}"
        e = build_env(home, database_url=databases(), sqlite_template=template, **overrides)
        built.append(e)
        return e

    return build, built


def _close(built: list[Env]) -> None:
    for e in built:
        e.state.close()
        e.context.close()


@pytest.fixture()
def env_factory(
    tmp_path: Path, make_database: DatabaseMaker, sqlite_template: SqliteTemplate
) -> Iterator[Callable[..., Env]]:
    """Build an environment with settings overrides: ``env_factory(max_image_bytes=60_000)``."""
    build, built = _factory(tmp_path, make_database, sqlite_template)
    yield build
    _close(built)


@pytest.fixture(scope="module")
def module_env_factory(
    tmp_path_factory: pytest.TempPathFactory,
    module_make_database: DatabaseMaker,
    sqlite_template: SqliteTemplate,
) -> Iterator[Callable[..., Env]]:
    """Like env_factory, shared by a module (an environment costs a database and an app)."""
    build, built = _factory(tmp_path_factory.mktemp("web"), module_make_database, sqlite_template)
    yield build
    _close(built)


@pytest.fixture(scope="module")
def module_env(
    tmp_path_factory: pytest.TempPathFactory,
    module_make_database: DatabaseMaker,
    sqlite_template: SqliteTemplate,
) -> Iterator[Env]:
    """One app for a whole test module (read-mostly tests such as the route walk)."""
    home = tmp_path_factory.mktemp("web") / "home"
    e = build_env(home, database_url=module_make_database(), sqlite_template=sqlite_template)
    yield e
    e.state.close()
    e.context.close()


def store_alert(env: Env, camera: str = "cam1") -> int:
    """Store a real candidate alert through the pipeline's AlertStore; returns its id."""
    candidate = make_candidate(env, camera)
    return AlertStore(env.context.db, env.context.cipher, env.settings, env.bus).save(candidate)


def make_candidate(env: Env, camera: str = "cam1") -> CandidateAlert:
    """A real candidate: a new authorization (valid from an hour ago), watchlist and enrolled
    subject, matched on ``camera`` now (not stored: :func:`store_alert` stores one)."""
    ref = f"ORDER-{secrets.token_hex(4)}"
    now = utcnow()
    auth = AuthorizationService(env.context.db).create(
        AuthorizationInput(
            reference=ref,
            purpose="missing_person",
            legal_basis="court order",
            authority="District Court",
            expires_at=now + timedelta(days=7),
            valid_from=now - timedelta(hours=1),
        ),
        actor="test",
    )
    watchlists = WatchlistService(env.context.db, env.context.cipher)
    wl = watchlists.create(f"list-{ref}", ref, actor="test")
    face = FakeValidator(env.settings).validate(
        encode_jpeg(np.full((80, 80, 3), 120, np.uint8)), "enrolled.jpg"
    )
    name = f"Person {ref}"
    enrolled = watchlists.enroll(wl.name, name, [face], actor="test")
    tpl_id = _first_template(env, enrolled.subject_id)
    entry = GalleryEntry(
        tpl_id,
        enrolled.subject_id,
        name,
        wl.id,
        wl.name,
        auth.id,
        ref,
        auth.valid_from,
        auth.expires_at,
        None,
    )
    candidate = CandidateAlert(
        camera=camera,
        first_seen=now - timedelta(seconds=2),
        last_seen=now,
        match=Match(entry, 0.9),
        crop_jpeg=encode_jpeg(np.zeros((40, 40, 3), np.uint8)),
        captured_monotonic=0.0,
    )
    return candidate


@pytest.fixture()
def alert_store() -> Callable[..., int]:
    """``alert_store(env, camera="cam1") -> alert id`` for environments built with env_factory."""
    return store_alert


@pytest.fixture()
def make_alert(env: Env) -> Callable[..., int]:
    """``make_alert(camera="cam1") -> alert id`` in the ``env`` environment."""
    return lambda camera="cam1": store_alert(env, camera)


def _first_template(env: Env, subject_id: int) -> int:
    from vigil.repositories.watchlists import TemplateRepo

    with env.context.db.read() as s:
        tpl = TemplateRepo(s).first_for_subject(subject_id)
        assert tpl is not None
        return tpl.id


@pytest.fixture()
def public_alert() -> Callable[..., AlertPublic]:
    """``public_alert(alert_id=7, **fields)``: an alert in its public shape (hand-made events)."""
    return make_public_alert


def make_public_alert(alert_id: int = 7, **fields: object) -> AlertPublic:
    """An alert in its public shape, for events published by hand (times fixed, UTC)."""
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data: dict[str, object] = {
        "id": alert_id,
        "camera": "gate",
        "subject_id": 3,
        "subject_name": "Jane Roe",
        "watchlist": "missing",
        "authorization_reference": "ORDER-1",
        "purpose": "missing_person",
        "score": 0.8123456,
        "threshold": 0.5,
        "pack": "dlib",
        "status": "candidate",
        "first_seen": t,
        "last_seen": t,
        "created_at": t,
        "has_crop": True,
    }
    return AlertPublic.model_validate(data | fields)
