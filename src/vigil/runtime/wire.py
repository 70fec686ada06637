"""What crosses the wire between the command center and its camera actors (Ray engine).

Typed, frozen containers that Ray pickles: the versioned gallery going out, candidate alerts,
sighting updates, last-seen updates and per-minute counts coming back, and each actor's report.
None of them holds a database handle, the data key or a secret of the deployment:
:func:`actor_settings` strips those from the settings an actor receives.

Imports no database, cipher or Ray: both sides (and the tests) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.config import AlertsOutConfig, CameraConfig, ServerConfig, Settings
from vigil.domain.counts import MinuteCount
from vigil.faces.gallery import GallerySnapshot
from vigil.sources.worker import CameraStatus, FilePlayback
from vigil.types import CandidateAlert

ACTOR_PREFIX = "camera:"  # a camera actor's Ray name is ACTOR_PREFIX + the camera's name


def actor_name(camera: str) -> str:
    return ACTOR_PREFIX + camera


def actor_settings(settings: Settings) -> Settings:
    """The settings a camera actor needs (packs, quality, tracking, matching, sources), without
    the database URL, the session key, outbound credentials or the camera list."""
    return settings.model_copy(
        update={
            "database_url": None,
            "server": ServerConfig(),
            "alerts_out": AlertsOutConfig(),
            "cameras": [],
        }
    )


@dataclass(frozen=True, slots=True)
class ActorSpec:
    """Everything a camera actor is built from (and rebuilt from when Ray restarts it)."""

    camera: CameraConfig
    settings: Settings  # from actor_settings(): no secrets
    loop_files: bool
    playback: FilePlayback
    pending_limit: int  # unsent candidates kept; the oldest is dropped beyond


@dataclass(frozen=True, slots=True)
class GalleryRelease:
    """One published gallery: authorized entries only, decrypted in the command center."""

    version: int  # 1, 2, ... per command-center process; 0 means "none yet"
    snapshot: GallerySnapshot
    published_at: datetime
    origin: str  # which command-center process published it (versions restart with it)


@dataclass(frozen=True, slots=True)
class WireCandidate:
    """A candidate alert with its idempotency key (``incarnation:sequence`` of its actor)."""

    key: str
    candidate: CandidateAlert


@dataclass(frozen=True, slots=True)
class WireSighting:
    """A sighting update (:class:`~vigil.types.SightingUpdate`) of the alert opened by candidate
    ``alert_key``, under its own idempotency key ``key`` (applied once per key)."""

    key: str
    alert_key: str
    ordinal: int
    candidate: CandidateAlert
    conflicting: bool = False
    joins: bool = True  # the track's first sighting (else a better shot of a sighting sent)

    @property
    def fallback_key(self) -> str:
        """The delivery key of the alert this track opens when ``alert_key``'s takes no more."""
        return fallback_key(self.alert_key, self.ordinal)


def fallback_key(alert_key: str, ordinal: int) -> str:
    """Where the track ``ordinal`` of alert ``alert_key`` lives if that alert refused it."""
    return f"{alert_key}/{ordinal}"


@dataclass(frozen=True, slots=True)
class LastSeen:
    """Track ``ordinal`` of the alert of candidate ``key`` was in view until ``last_seen``."""

    key: str
    last_seen: datetime
    ordinal: int = 1


@dataclass(frozen=True, slots=True)
class WireCount:
    """One finished minute of one camera's aggregate counts."""

    camera: str
    minute: datetime
    counts: MinuteCount


@dataclass(frozen=True, slots=True)
class Delivery:
    """What an actor hands over in one collection round."""

    candidates: tuple[WireCandidate, ...] = ()
    last_seen: tuple[LastSeen, ...] = ()
    counts: tuple[WireCount, ...] = ()
    sightings: tuple[WireSighting, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.candidates or self.last_seen or self.counts or self.sightings)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the command center stored from a delivery: the actor may forget those."""

    keys: tuple[str, ...] = ()
    last_seen: tuple[LastSeen, ...] = ()
    sightings: tuple[str, ...] = ()  # keys of the sighting updates applied (or refused)
    closed: tuple[str, ...] = ()  # candidate keys whose alert takes no more sightings


@dataclass(frozen=True, slots=True)
class ActorReport:
    """One actor's state for status pages, metrics and ``vigil cluster status``."""

    status: CameraStatus  # with ``node`` set
    node_id: str
    node_ip: str
    incarnation: str  # changes when Ray restarts the actor
    gallery_version: int
    gallery_origin: str
    gallery_published_at: datetime | None
    gallery_entries: int
    pending: int  # candidates not yet stored by the command center
    dropped: int  # candidates dropped because the queue was full
    frames: int  # frames analysed by the pipeline
    error: str | None
    dropped_sightings: int = 0  # sighting updates dropped because their queue was full
    raised: int = 0  # candidates and sighting updates this incarnation raised (one per match)
