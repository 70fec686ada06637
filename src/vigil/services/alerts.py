"""Candidate alerts: storing them (sealed, audited, authority re-checked) and announcing them.

:class:`AlertStore` writes a candidate only if, inside the write transaction, its authorization is
still active and covers the camera at that time; otherwise it raises PermissionDenied and nothing
is stored. The crop is sealed with the data cipher (aad ``b"alert:<id>"``) and an
``alert.candidate`` audit event names the input (camera, time range, template id).

:class:`AlertBus` fans :class:`AlertEvent` out to subscribers. Callbacks run on the publishing
(pipeline) thread and must not block; a failing callback is logged and never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.threshold import threshold_in_force
from vigil.config import Settings
from vigil.db.models import Alert, Authorization
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.errors import PermissionDenied
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.watchlists import SubjectRepo, WatchlistRepo
from vigil.types import CandidateAlert

log = logging.getLogger(__name__)

AlertKind = Literal["candidate", "updated", "reviewed"]
ACTOR = "system:pipeline"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    alert_id: int
    kind: AlertKind
    status: str
    camera: str
    subject_name: str
    watchlist: str
    authorization_reference: str
    score: float
    first_seen: datetime
    last_seen: datetime
    captured_monotonic: float


Subscriber = Callable[[AlertEvent], None]


class AlertBus:
    """In-process publish/subscribe for alert events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: AlertEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the pipeline
                log.exception("alert subscriber %r failed on alert %s", callback, event.alert_id)


def event_for(
    alert: Alert,
    kind: AlertKind,
    *,
    subject: str,
    watchlist: str,
    reference: str,
    captured_monotonic: float = 0.0,
) -> AlertEvent:
    return AlertEvent(
        alert_id=alert.id,
        kind=kind,
        status=alert.status.value,
        camera=alert.camera,
        subject_name=subject,
        watchlist=watchlist,
        authorization_reference=reference,
        score=alert.score,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        captured_monotonic=captured_monotonic,
    )


class AlertStore:
    """Stores candidate alerts; verbs :meth:`save` and :meth:`update_last_seen`."""

    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        bus: AlertBus,
        *,
        pack: str | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        self.bus = bus
        self.pack = pack or settings.model_pack

    def save(self, candidate: CandidateAlert) -> int:
        """Store the candidate if its authority still holds; returns the alert id."""
        entry = candidate.match.entry
        with self.db.write() as s:
            auth = AuthorizationRepo(s).get_by_id(entry.authorization_id)
            _check_authority(auth, candidate)
            subject = SubjectRepo(s).get(entry.subject_id)
            watchlist = WatchlistRepo(s).get_by_id(entry.watchlist_id)
            alert = AlertRepo(s).add(
                Alert(
                    camera=candidate.camera,
                    subject_id=subject.id,
                    watchlist_id=watchlist.id,
                    authorization_id=auth.id,
                    template_id=entry.template_id,
                    score=candidate.match.score,
                    threshold=threshold_in_force(s, self.settings, self.pack),
                    pack=self.pack,
                    first_seen=candidate.first_seen,
                    last_seen=candidate.last_seen,
                    crop=None,
                    status=AlertStatus.candidate,
                    latency_ms=max(0.0, (time.monotonic() - candidate.captured_monotonic) * 1000.0),
                )
            )
            alert.crop = self.cipher.seal(candidate.crop_jpeg, f"alert:{alert.id}".encode())
            alert.crop_encrypted = True
            audit.record(
                s,
                actor=ACTOR,
                action="alert.candidate",
                target=f"alert:{alert.id}",
                details=_audit_details(candidate, alert, watchlist.name, auth.reference),
            )
            event = event_for(
                alert,
                "candidate",
                subject=subject.name,
                watchlist=watchlist.name,
                reference=auth.reference,
                captured_monotonic=candidate.captured_monotonic,
            )
        self.bus.publish(event)
        return event.alert_id

    def update_last_seen(self, alert_id: int, last_seen: datetime) -> None:
        """The alert's person was still in view until ``last_seen``; announces an 'updated' event.

        A purged alert (its authorization was revoked meanwhile) is silently gone: nothing to do.
        """
        with self.db.write() as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                return
            if last_seen > alert.last_seen:
                alert.last_seen = last_seen
            event = event_for(
                alert,
                "updated",
                subject=SubjectRepo(s).get(alert.subject_id).name,
                watchlist=WatchlistRepo(s).get_by_id(alert.watchlist_id).name,
                reference=AuthorizationRepo(s).get_by_id(alert.authorization_id).reference,
            )
        self.bus.publish(event)


def _check_authority(auth: Authorization, candidate: CandidateAlert) -> None:
    """Defence in depth: the authorization must still hold when the alert is written."""
    covered = auth.cameras is None or candidate.camera in auth.cameras
    in_window = auth.valid_from <= candidate.first_seen and candidate.last_seen < auth.expires_at
    if auth.status is not AuthorizationStatus.active or not covered or not in_window:
        raise PermissionDenied(
            f"authorization {auth.reference!r} ({auth.status.value}) does not cover camera "
            f"{candidate.camera!r} at {candidate.last_seen.isoformat()}; "
            "the candidate was discarded"
        )


def _audit_details(
    candidate: CandidateAlert, alert: Alert, watchlist: str, reference: str
) -> dict[str, object]:
    """What EU AI Act Art 12(3) asks of a match: the input, the reference database, the score."""
    return {
        "input": {
            "camera": candidate.camera,
            "from": candidate.first_seen.isoformat(),
            "to": candidate.last_seen.isoformat(),
            "template_id": candidate.match.entry.template_id,
        },
        "subject": candidate.match.entry.subject_name,
        "watchlist": watchlist,
        "authorization": reference,
        "score": round(candidate.match.score, 4),
        "threshold": alert.threshold,
        "pack": alert.pack,
    }
