"""SQLAlchemy ORM tables. Schema changes go through Alembic migrations in ``migrations/``.

What is *not* here on purpose: no table for unmatched faces, tracks or embeddings. Passers-by
leave only the aggregate per-camera per-minute counts in ``face_counts``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from vigil.domain.camera_groups import DEFAULT_CAMERA_GROUP
from vigil.domain.enums import AlertStatus, AuthorizationStatus, Purpose, Role
from vigil.timeutil import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite returns naive ones, which we re-tag as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use vigil.timeutil.utcnow()")
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


# Ids of audited entities are never reused (the audit's "alert:7" is one alert forever): SQLite
# reuses the highest rowid after a delete unless the table is AUTOINCREMENT; PostgreSQL's
# serial/identity columns never reuse. Every new table whose ids the audit names needs this.
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}


class Authorization(Base):
    __tablename__ = "authorizations"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    legal_basis: Mapped[str] = mapped_column(Text)
    authority: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[Purpose] = mapped_column(Enum(Purpose, native_enum=False, length=32))
    cameras: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None = all cameras
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AuthorizationStatus] = mapped_column(
        Enum(AuthorizationStatus, native_enum=False, length=16), default=AuthorizationStatus.active
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="cli")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    watchlists: Mapped[list[Watchlist]] = relationship(back_populates="authorization")


class Watchlist(Base):
    __tablename__ = "watchlists"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    authorization: Mapped[Authorization] = relationship(back_populates="watchlists")
    subjects: Mapped[list[Subject]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", passive_deletes=True
    )


class Subject(Base):
    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    watchlist: Mapped[Watchlist] = relationship(back_populates="subjects")
    templates: Mapped[list[Template]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )
    __table_args__ = (UniqueConstraint("watchlist_id", "name"), AUTOINCREMENT)


class SubjectKey(Base):
    """The random key behind a subject's pseudonymous audit reference (see
    :mod:`vigil.accountability.pseudonyms`), sealed with the data key (``encrypted`` is False only
    between the migration that made it and the first start with the data key, which seals it).
    Deleted with its subject (ON DELETE CASCADE): then no one can link the reference to anyone.
    """

    __tablename__ = "subject_keys"
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    key: Mapped[bytes] = mapped_column(LargeBinary)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Template(Base):
    """One enrolled face: embedding per pack and the enrolled photo's face crop (biometric)."""

    __tablename__ = "templates"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    pack: Mapped[str] = mapped_column(String(32), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 bytes, encrypted when a key is set
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # JPEG face crop
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subject: Mapped[Subject] = relationship(back_populates="templates")


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    url: Mapped[str] = mapped_column(Text)
    max_fps: Mapped[float] = mapped_column(Float, default=5.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the public transparency page's unit (vigil.domain.camera_groups)
    camera_group: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_CAMERA_GROUP, server_default=DEFAULT_CAMERA_GROUP, index=True
    )


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    pack: Mapped[str] = mapped_column(String(32))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    crop: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True
    )  # JPEG, bystanders masked
    crop_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[AlertStatus] = mapped_column(
        Enum(AlertStatus, native_enum=False, length=16), default=AlertStatus.candidate, index=True
    )
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviews: Mapped[list[Review]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True
    )
    sightings: Mapped[list[AlertSighting]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True
    )


class AlertSighting(Base):
    """One matched track of an alert: its best probe crop (sealed), score and times.

    ``ordinal`` is the track's place among the alert's matched tracks, not a track identity:
    unmatched tracks are never stored. Deleted with its alert (every purge path deletes alerts).
    """

    __tablename__ = "alert_sightings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    conflicting: Mapped[bool] = mapped_column(Boolean, default=False)
    crop: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed JPEG
    crop_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # what it matched
    # A reviewer marked it "not this person": kept as a false sighting, never the headline.
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejected_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert: Mapped[Alert] = relationship(back_populates="sightings")
    __table_args__ = (
        UniqueConstraint("alert_id", "ordinal"),
        {"sqlite_autoincrement": True},
    )


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))  # confirm | reject
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A confirmation names the sightings (ids) it confirmed; it stops counting (superseded)
    # when that set changes before the second confirmation (a sighting rejected or added).
    sightings: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alert: Mapped[Alert] = relationship(back_populates="reviews")


class FaceCount(Base):
    """Aggregate counts per camera per minute: the only trace unmatched faces leave."""

    __tablename__ = "face_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64))
    minute: Mapped[datetime] = mapped_column(UTCDateTime)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    embedded_tracks: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("camera", "minute"),)


class CameraSession(Base):
    """One 'use' of the system: a camera run from start to stop (EU AI Act Art 12(3))."""

    __tablename__ = "camera_sessions"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pack: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float] = mapped_column(Float)
    watchlists: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The server process that runs the camera and its last sign of life: another process closes
    # the session only once that heartbeat is older than runtime.session_stale_seconds.
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RelayLogEntry(Base):
    """One alert event relayed between command-center processes (PostgreSQL LISTEN/NOTIFY,
    SQLite polling: :mod:`vigil.services.alert_relay`).

    Appended under the writer lock, so ids commit in order: a listener that saw id N reads
    ``id > N`` after a reconnect and misses nothing. No personal data: the receiver loads the
    alert's public shape itself. Rows older than the relay's retention are deleted.
    """

    __tablename__ = "relay_log"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Maintenance accounts only (vigil.services.maintainers): who created it, who approved it
    # (never the creator) and when its access ends; None for every other role.
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEvent(Base):
    """Append-only, hash-chained audit record (chain logic in vigil.accountability.audit)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class AuditSignature(Base):
    __tablename__ = "audit_signatures"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Setting(Base):
    """Runtime settings changed through the UI (preview blur, threshold): audited."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="system")


class RetentionRun(Base):
    __tablename__ = "retention_runs"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # counts per data class


class LoginSession(Base):
    """A browser login (server-side session). Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "login_sessions"
    __table_args__ = AUTOINCREMENT
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginThrottleWindow(Base):
    """Login attempts counted per (scope, key) in a fixed window; rows of old windows are pruned.

    ``scope`` is ``client`` (an address) today; a per-account scope can use the same table.
    """

    __tablename__ = "login_throttle"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """One delivery of a confirmed alert to one destination (transactional outbox).

    Written in the review's transaction; a deliverer claims due rows with a lease
    (``claimed_by`` + ``lease_until``), sends, then marks them ``delivered`` or ``failed`` or
    schedules the next try (``due_at``). ``body`` is the exact signed JSON, so retries and other
    processes send the same bytes.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | mqtt
    destination: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_outbox_status_due_at", "status", "due_at"), AUTOINCREMENT)


class CandidateDelivery(Base):
    """One candidate alert received from a remote camera (Ray engine), by its idempotency key.

    Written in the same transaction as the alert, so a candidate delivered twice (the command
    center stopped before the actor heard it was stored) is stored once. ``alert_id`` is not a
    foreign key: the alert may be purged later, and its key must still refuse a redelivery.
    Sighting updates from remote cameras record their own keys here too (several keys may name
    one alert), so a redelivered one is applied once.
    Holds no personal data (an actor id, a sequence number, an alert id).
    """

    __tablename__ = "candidate_deliveries"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
