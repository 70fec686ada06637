"""API request/response models: separate Create / Update / Public views, unknown keys refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vigil.domain.enums import Purpose, Role
from vigil.services.authorizations import PublicStatus, public_status


def _as_utc(value: datetime) -> datetime:
    """Times without an offset are taken as UTC (as everywhere in Vigil); others are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
MAX_ID = 2**63 - 1  # the database's integer range: larger ids are a client mistake (422), not a 500
EntityId = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]


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


class UserPublic(_Out):
    id: int
    username: str
    role: Role
    active: bool
    must_change_password: bool
    locked_until: datetime | None = None
    created_at: datetime


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


class UserUpdate(_In):
    role: Role | None = None
    active: bool | None = None


class UserWithPassword(_Out):
    user: UserPublic
    one_time_password: str = Field(
        ..., description="shown once; the user must change it at first login"
    )


class TokenCreate(_In):
    user_id: int = Field(..., ge=1, le=MAX_ID)
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
    url: str = Field(..., min_length=1, max_length=2000)
    max_fps: float = Field(5.0, gt=0.0, le=60.0)
    enabled: bool = True


class CameraTestRequest(_In):
    url: str = Field(..., min_length=1, max_length=2000)


class CameraUpdate(_In):
    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str | None = Field(None, min_length=1, max_length=2000)
    max_fps: float | None = Field(None, gt=0.0, le=60.0)
    enabled: bool | None = None


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
    last_frame_at: datetime | None = None


class CameraPublic(_Out):
    id: int
    name: str
    url: str = Field(..., description="password masked")
    max_fps: float
    enabled: bool
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


class AwaitingCount(_Out):
    count: int = Field(..., ge=0, description="alerts this user may still review")


# The public shape of an alert is the domain's (vigil.domain.events.AlertPublic): the API, the
# WebSocket feed and outbound delivery all use that one.


# -- audit, settings, outbound -----------------------------------------------------------------
class AuditEventPublic(_Out):
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class SettingsPublic(_Out):
    preview_blur: bool = Field(..., description="blur every face in live previews")


class SettingsUpdate(_In):
    preview_blur: bool


class OutboundPublic(_Out):
    webhooks: list[str] = Field(..., description="destinations, credentials and queries removed")
    webhook_signed: bool
    mqtt_host: str | None
    mqtt_port: int
    mqtt_topic: str
