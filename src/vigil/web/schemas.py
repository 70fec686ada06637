"""API request/response models: separate Create / Update / Public views, unknown keys refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from vigil.domain.camera_groups import (
    CAMERA_GROUP_HINT,
    CAMERA_GROUP_PATTERN,
    DEFAULT_CAMERA_GROUP,
    MAX_GROUP_LENGTH,
)
from vigil.domain.enums import Purpose, Role
from vigil.services.authorizations import PublicStatus, public_status


def _as_utc(value: datetime) -> datetime:
    """Times without an offset are taken as UTC (as everywhere in Vigil); others are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https")


def _iso_8601_only(value: Any) -> Any:
    """Times are ISO 8601 text (or datetimes); a bare number is not taken as a Unix time."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_8601.match(value.strip()):
        raise ValueError("expected an ISO 8601 date-time such as 2026-03-01T10:00:00Z")
    return value.strip()


def _number_not_bool(value: Any) -> Any:
    """JSON ``true`` is not the number 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return value


def _camera_url(value: str) -> str:
    """A stream URL (rtsp/rtsps/http/https with a host) or a file path (also as ``file://``);
    no spaces or controls. Where a path may point is the source policy's decision."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("a camera URL has no spaces or control characters")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() == "file":  # a path: the media-folder rule decides (400)
            return value
        if parts.scheme.lower() not in CAMERA_SCHEMES or not parts.hostname:
            raise ValueError(
                "expected rtsp://, rtsps://, http:// or https:// with a host, or a file path"
            )
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(_as_utc)]
Fps = Annotated[float, BeforeValidator(_number_not_bool)]
CameraUrl = Annotated[str, AfterValidator(_camera_url)]
CameraGroup = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_GROUP_LENGTH,
        pattern=CAMERA_GROUP_PATTERN,
        description="camera group (the public transparency page publishes figures per group); "
        + CAMERA_GROUP_HINT,
    ),
]
MAX_ID = 2**63 - 1  # the database's integer range: larger ids are a client mistake (422), not a 500
EntityId = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]


class ErrorBody(BaseModel):
    """Every error answer: a stable code, what went wrong and how to fix it (422 adds
    ``errors``, one per field)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(..., description="stable code, e.g. not_found, conflict, invalid")
    message: str = Field(..., description="what went wrong and how to fix it")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` declaring the error answers ``codes`` a router's routes give."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


ERROR_DESCRIPTIONS = {
    400: "bad input the service refused",
    401: "not logged in, or a bad token",
    403: "this role may not do this, or a missing CSRF token",
    404: "no such resource",
    409: "conflicts with the resource's state",
    413: "the body is too large",
    415: "the body has the wrong media type",
    422: "the request does not match the schema",
    429: "too many attempts; wait and retry",
    502: "the camera source failed",
    503: "a part the request needs is not running here",
}
COMMON_ERRORS = (400, 401, 403, 404, 409, 413, 422)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Health(_Out):
    status: Literal["ok"] = "ok"
    version: str


# -- auth and users ----------------------------------------------------------------------------
class LoginRequest(_In):
    username: str = Field(..., min_length=1, max_length=128)
    password: str = Field(..., min_length=1, max_length=1024)


class PasswordChange(_In):
    current_password: str = Field(..., min_length=1, max_length=1024)
    new_password: str = Field(
        ..., min_length=1, max_length=1024, description="at least 12 characters"
    )
    keep_tokens: bool = Field(
        False, description="keep my API tokens (by default a password change revokes them)"
    )


class UserPublic(_Out):
    id: int
    username: str
    role: Role
    active: bool
    must_change_password: bool
    locked_until: datetime | None = None
    created_at: datetime
    expires_at: datetime | None = Field(None, description="maintenance accounts: access ends")
    approved_by: str | None = Field(None, description="maintenance accounts: the approver")
    approved_at: datetime | None = None


class MaintainerPending(_Out):
    """A maintenance account waiting for a second person's approval (what a supervisor sees)."""

    id: int
    username: str
    created_by: str | None = Field(None, description="the administrator who created it")
    created_at: datetime
    expires_at: datetime | None = Field(None, description="its access ends then")


class Me(_Out):
    id: int
    username: str
    role: Role
    via: Literal["session", "token"]
    must_change_password: bool
    csrf_token: str | None = Field(
        None, description="send it in X-CSRF-Token on POST/PUT/PATCH/DELETE"
    )


class UserCreate(_In):
    username: str = Field(..., min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role


class MaintainerCreate(_In):
    username: str = Field(..., min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    hours: float = Field(
        ...,
        gt=0,
        le=10_000,
        description="how long the account may be used, at most 72 (a longer one is refused)",
    )


class UserUpdate(_In):
    role: Role | None = None
    active: StrictBool | None = None


class UserWithPassword(_Out):
    user: UserPublic
    one_time_password: str = Field(
        ..., description="shown once; the user must change it at first login"
    )


class TokenCreate(_In):
    user_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="optional; only your own id (tokens are for yourself)"
    )
    name: str = Field(..., min_length=1, max_length=128)


class TokenPublic(_Out):
    id: int
    user_id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


class TokenCreated(_Out):
    token: TokenPublic
    secret: str = Field(..., description="shown once; send as 'Authorization: Bearer <secret>'")


# -- authorizations, watchlists, subjects ------------------------------------------------------
class AuthorizationCreate(_In):
    reference: str = Field(..., min_length=1, max_length=128)
    purpose: Purpose
    legal_basis: str = Field(..., min_length=1, max_length=4000)
    authority: str = Field(..., min_length=1, max_length=256)
    expires_at: UtcDatetime
    valid_from: UtcDatetime | None = None
    cameras: list[str] | None = Field(
        None, description="camera names in scope; omit for all cameras"
    )


class AuthorizationPublic(_Out):
    id: int
    reference: str
    purpose: Purpose
    legal_basis: str
    authority: str
    cameras: list[str] | None
    valid_from: datetime
    expires_at: datetime
    status: PublicStatus  # "expired" when active and past expires_at (computed)
    created_at: datetime
    created_by: str
    status_changed_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _expired(cls, data: Any) -> Any:
        if not isinstance(data, dict):  # a stored authorization (from_attributes)
            fields = {name: getattr(data, name) for name in cls.model_fields}
            return {**fields, "status": public_status(data.status, data.expires_at)}
        return data


class Purged(_Out):
    alerts: int
    templates: int
    subjects: int


class WatchlistCreate(_In):
    name: str = Field(..., min_length=1, max_length=128)
    authorization_reference: str = Field(..., min_length=1, max_length=128)


class WatchlistPublic(_Out):
    id: int
    name: str
    authorization_reference: str
    purpose: str
    subjects: int


class SubjectPublic(_Out):
    id: int
    watchlist_id: int
    name: str
    templates: int
    created_at: datetime


class PhotoFeedback(_Out):
    photo: str
    accepted: bool
    quality: float | None = Field(None, description="combined quality 0..1 of an accepted face")
    reason: str | None = Field(
        None, description="why it was refused: no_face, too_small, too_blurred ..."
    )
    message: str | None = None


class EnrollResult(_Out):
    subject: SubjectPublic | None
    accepted: int
    rejected: int
    photos: list[PhotoFeedback]


class SubjectRemoved(_Out):
    alerts: int
    templates: int
    subjects: int


# -- cameras -----------------------------------------------------------------------------------
class CameraCreate(_In):
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: CameraUrl = Field(..., min_length=1, max_length=2000)
    max_fps: Fps = Field(5.0, gt=0.0, le=60.0)
    enabled: StrictBool = True
    group: CameraGroup = DEFAULT_CAMERA_GROUP


class CameraTestRequest(_In):
    url: CameraUrl = Field(..., min_length=1, max_length=2000)


class CameraUpdate(_In):
    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: CameraUrl | None = Field(None, min_length=1, max_length=2000)
    max_fps: Fps | None = Field(None, gt=0.0, le=60.0)
    enabled: StrictBool | None = None
    group: CameraGroup | None = None


class CameraStatusPublic(_Out):
    state: str
    since: datetime | None = None
    fps_in: float = 0.0
    fps_analysed: float = 0.0
    frames_in: int = 0
    frames_analysed: int = 0
    drops: int = 0
    skipped_by_cap: int = 0
    reconnects: int = 0
    last_error: str | None = None
    analysis_error: str | None = Field(
        None, description="the analysis side's last problem (a model worker restarted, a frame)"
    )
    last_frame_at: datetime | None = None
    node: str | None = Field(None, description="cluster node running it (Ray engine); else none")


class CameraPublic(_Out):
    id: int
    name: str
    url: str = Field(..., description="password masked")
    max_fps: float
    enabled: bool
    group: str = Field(..., description="camera group: the public page's unit")
    running: bool
    status: CameraStatusPublic | None = None


class ConnectionTestPublic(_Out):
    ok: bool
    url: str
    kind: str | None
    message: str
    width: int | None = None
    height: int | None = None
    seconds: float


# -- alerts and reviews ------------------------------------------------------------------------
class ReviewCreate(_In):
    decision: Literal["confirm", "reject"]
    reason: str = Field("", max_length=2000, description="required for a rejection")


class SightingRejectCreate(_In):
    reason: str = Field(
        ..., min_length=1, max_length=2000, description="why this face is not the person"
    )


class AwaitingCount(_Out):
    count: int = Field(..., ge=0, description="alerts this user may still review")


# The public shape of an alert is the domain's (vigil.domain.events.AlertPublic): the API, the
# WebSocket feed and outbound delivery all use that one.


# -- audit, settings, outbound -----------------------------------------------------------------
class LogLinePublic(_Out):
    """One record of this server process's log (redacted: see vigil.services.logs)."""

    time: datetime
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    logger: str = Field(..., description="the logger's name, e.g. vigil.runtime.runner")
    message: str
    exception: str | None = Field(
        None, description="the exception's type name when the record had one (never its text)"
    )


class AuditEventPublic(_Out):
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    subjects: dict[str, str] = Field(
        default_factory=dict,
        description="who each pseudonymous subject reference (ps-...) in this record stands for: "
        "'watchlist/name' while the subject lives, 'purged subject' once it was purged",
    )


class SettingsPublic(_Out):
    preview_blur: bool = Field(..., description="blur every face in live previews")


class SettingsUpdate(_In):
    preview_blur: StrictBool


class OutboundPublic(_Out):
    webhooks: list[str] = Field(..., description="destinations, credentials and queries removed")
    webhook_signed: bool
    mqtt_host: str | None
    mqtt_port: int
    mqtt_topic: str


# -- egress ------------------------------------------------------------------------------------


class EndpointPublic(_Out):
    kind: str = Field(description="camera, webhook, mqtt, database or ray")
    name: str
    endpoint: str = Field(description="without credentials or query string")


class ReachedPublic(_Out):
    kind: str
    endpoint: str
    count: int
    failed: int
    last: datetime


class EgressPublic(_Out):
    allowed: list[EndpointPublic] = Field(description="what the configuration lets Vigil reach")
    reached: list[ReachedPublic] = Field(description="what it reached, from audit and sessions")
