"""The ONE public shape of an alert and the ONE event that announces its changes.

:class:`AlertPublic` is what reviewers, the REST API (``response_model``), the WebSocket feed and
outbound delivery all see: names resolved, no face image, no template. :class:`AlertEvent` is the
immutable notice of one change: relayed to other processes with its transaction, delivered to
subscribers AFTER that transaction has committed:

=============  ===================================================================
``candidate``  the pipeline stored a new candidate alert
``updated``    the person was still in view (``last_seen`` moved), a track added or improved a
               sighting, or a reviewer rejected one sighting
``reviewed``   a first confirmation (the alert is now ``pending_second``)
``confirmed``  a second, different user confirmed it
``rejected``   a reviewer rejected it (a false alert, kept for the statistics)
``purged``     it was deleted (with its authorization or subject, or by retention); only the id
=============  ===================================================================

This module is domain vocabulary: it imports nothing from the database, the web, the services or
the pipeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.domain.enums import AlertStatus, Purpose

AlertKind = Literal["candidate", "updated", "reviewed", "confirmed", "rejected", "purged"]
ALERT_KINDS: tuple[AlertKind, ...] = (
    "candidate",
    "updated",
    "reviewed",
    "confirmed",
    "rejected",
    "purged",
)
OUTBOUND_EVENT = "alert.confirmed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", from_attributes=True)


class ReviewPublic(_Frozen):
    """One reviewer's decision on an alert."""

    username: str
    decision: Literal["confirm", "reject"]
    reason: str = ""
    created_at: datetime = Field(..., description="when the review was given (UTC)")
    sightings: tuple[int, ...] = Field(
        (), description="a confirmation: the ids of the sightings it confirmed"
    )
    superseded: bool = Field(
        False,
        description="a confirmation that no longer counts: the alert's sightings changed "
        "(one rejected or added) before the second confirmation",
    )


class SightingPublic(_Frozen):
    """One matched track of an alert: its best shot's score and time, its crop by URL."""

    id: int
    ordinal: int = Field(..., ge=1, description="the track's place in the alert (1 = first)")
    score: float
    seen_at: datetime = Field(..., description="when its best shot was taken (UTC)")
    first_seen: datetime
    last_seen: datetime
    conflicting: bool = Field(
        False, description="another track matched the same subject here at an overlapping time"
    )
    has_crop: bool
    crop_url: str = Field(..., description="GET it for the probe crop (viewing is audited)")
    rejected: bool = Field(
        False, description="a reviewer marked it 'not this person' (kept as a false sighting)"
    )
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None


class AlertPublic(_Frozen):
    """An alert as reviewers and outside systems see it: names resolved, no image bytes."""

    id: int
    camera: str
    subject_id: int
    subject_name: str
    watchlist: str
    authorization_reference: str
    purpose: Purpose
    score: float
    threshold: float
    pack: str
    status: AlertStatus
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    decided_at: datetime | None = None
    latency_ms: float | None = None
    has_crop: bool = Field(..., description="a face crop can be fetched (not yet retained away)")
    reviews: tuple[ReviewPublic, ...] = ()
    confirmations: int = Field(0, ge=0, le=2, description="confirmations so far (two confirm)")
    sightings: tuple[SightingPublic, ...] = Field(
        (),
        description="every matched track, best score first, rejected ones last (the headline "
        "is the first: the best sighting not rejected)",
    )
    conflicting_sightings: bool = Field(
        False,
        description="two different tracks matched this subject at overlapping times on this "
        "camera: at least one of them is someone else",
    )

    @property
    def confirmed_by(self) -> tuple[str, ...]:
        return tuple(
            r.username for r in self.reviews if r.decision == "confirm" and not r.superseded
        )

    def awaits(self, username: str) -> bool:
        """True while ``username`` may still review it (undecided, and not confirmed by them)."""
        if self.status is AlertStatus.candidate:
            return True
        return self.status is AlertStatus.pending_second and username not in self.confirmed_by


class AlertEvent(_Frozen):
    """One change of one alert, published after the change committed.

    ``alert`` is the alert as it is now; a ``purged`` event has none (only ``alert_id``), so no
    personal data outlives the purge in a subscriber. ``captured_monotonic`` (candidate events
    from the pipeline) is the best frame's capture time on this process's monotonic clock, and
    ``first_shot_monotonic`` the track's first frame that passed the quality gate (0: unknown).
    """

    kind: AlertKind
    alert_id: int = Field(..., ge=1)
    alert: AlertPublic | None = None
    at: datetime = Field(..., description="when the change committed (UTC)")
    captured_monotonic: float = 0.0
    first_shot_monotonic: float = Field(
        0.0, description="monotonic time of the track's first frame that passed the quality gate"
    )

    @model_validator(mode="after")
    def _shape(self) -> AlertEvent:
        if self.kind == "purged":
            if self.alert is not None:
                raise ValueError("a purged event carries only the alert id, no alert")
        elif self.alert is None:
            raise ValueError(f"a {self.kind} event needs the alert in its public shape")
        elif self.alert.id != self.alert_id:
            raise ValueError(
                f"alert_id {self.alert_id} differs from the alert's id {self.alert.id}"
            )
        return self

    @classmethod
    def of(
        cls,
        kind: AlertKind,
        alert: AlertPublic,
        at: datetime,
        captured_monotonic: float = 0.0,
        first_shot_monotonic: float | None = None,
    ) -> AlertEvent:
        return cls(
            kind=kind,
            alert_id=alert.id,
            alert=alert,
            at=at,
            captured_monotonic=captured_monotonic,
            first_shot_monotonic=first_shot_monotonic or 0.0,
        )

    @classmethod
    def purged(cls, alert_id: int, at: datetime) -> AlertEvent:
        return cls(kind="purged", alert_id=alert_id, at=at)

    def wire(self) -> dict[str, object]:
        """The JSON form sent to browsers: ``{"type": "alert", "event": kind, "alert": ...}``."""
        return {
            "type": "alert",
            "event": self.kind,
            "alert_id": self.alert_id,
            "alert": None if self.alert is None else self.alert.model_dump(mode="json"),
            "at": self.at.isoformat(),
            "captured_monotonic": self.captured_monotonic,
            "first_shot_monotonic": self.first_shot_monotonic,
        }


def outbound_payload(alert: AlertPublic) -> dict[str, object]:
    """What outside systems receive about a CONFIRMED alert (webhook body, MQTT message).

    The alert's public shape plus who confirmed it and when: no face image, no template.
    """
    if alert.status is not AlertStatus.confirmed:
        raise ValueError(f"only confirmed alerts leave the deployment, not {alert.status.value}")
    return {
        "event": OUTBOUND_EVENT,
        "alert_id": alert.id,
        "confirmed_by": list(alert.confirmed_by),
        "confirmed_at": None if alert.decided_at is None else alert.decided_at.isoformat(),
        "alert": alert.model_dump(mode="json"),
    }
