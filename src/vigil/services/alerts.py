"""Candidate alerts: storing them (sealed, audited, authority re-checked), reading them, and
announcing every change as ONE :class:`~vigil.domain.events.AlertEvent`.

:class:`AlertStore` writes a candidate only if, inside the write transaction, its authorization is
still active and covers the camera at that time; otherwise it raises PermissionDenied and nothing
is stored. The crop is sealed with the data cipher (aad ``b"alert:<id>"``) and an
``alert.candidate`` audit event names the input (camera, time range, template id).

:class:`AlertBus` is the one publisher of alert events. Every producer holds it: AlertStore
(``candidate``, ``updated``), ReviewService (``reviewed``, ``confirmed``, ``rejected``) and the
authorization purge (``purged``). Producers publish AFTER their transaction commits. Callbacks run
on the publishing thread and must not block; a failing callback is logged and never stops the
others.

:class:`AlertQueries` is the read side for reviewers: alerts in their public shape and the
(decrypted, audited) face images.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.threshold import threshold_in_force
from vigil.config import Settings
from vigil.db.models import Alert, Authorization, Template
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent, AlertPublic, ReviewPublic
from vigil.errors import NotFound, PermissionDenied
from vigil.repositories.alerts import AlertFilter, AlertRecord, AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.deliveries import DeliveryRepo
from vigil.repositories.watchlists import SubjectRepo, TemplateRepo, WatchlistRepo
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert

log = logging.getLogger(__name__)

ACTOR = "system:pipeline"

Subscriber = Callable[[AlertEvent], None]


class AlertBus:
    """In-process publish/subscribe for alert events (the one publisher every producer holds)."""

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


def public_alert(record: AlertRecord) -> AlertPublic:
    """The public shape of one alert row with its names resolved."""
    alert = record.alert
    reviews = tuple(
        ReviewPublic.model_validate(r) for r in sorted(alert.reviews, key=lambda r: r.id)
    )
    return AlertPublic(
        id=alert.id,
        camera=alert.camera,
        subject_id=alert.subject_id,
        subject_name=record.subject_name,
        watchlist=record.watchlist,
        authorization_reference=record.authorization_reference,
        purpose=record.purpose,
        score=alert.score,
        threshold=alert.threshold,
        pack=alert.pack,
        status=alert.status,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        created_at=alert.created_at,
        decided_at=alert.decided_at,
        latency_ms=alert.latency_ms,
        has_crop=record.has_crop,
        reviews=reviews,
        confirmations=sum(r.decision == "confirm" for r in reviews),
    )


def load_public(s: Session, alert_id: int) -> AlertPublic:
    """The alert as it stands in this session (pending changes flushed first)."""
    s.flush()
    return public_alert(AlertRepo(s).record(alert_id))


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

    def save(self, candidate: CandidateAlert, *, delivery_key: str | None = None) -> int:
        """Store the candidate if its authority still holds; returns the alert id.

        ``delivery_key`` (remote cameras): a candidate already stored under this key is not
        stored again; its alert id is returned and nothing is published.
        """
        entry = candidate.match.entry
        with self.db.write() as s:
            if delivery_key is not None:
                known = DeliveryRepo(s).alert_for(delivery_key)
                if known is not None:
                    return known
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
            if delivery_key is not None:
                DeliveryRepo(s).add(delivery_key, alert.id)
            public = load_public(s, alert.id)
        self.bus.publish(AlertEvent.of("candidate", public, utcnow(), candidate.captured_monotonic))
        return public.id

    def delivered(self, delivery_key: str) -> int | None:
        """The alert stored under a remote candidate's delivery key, or None."""
        with self.db.read() as s:
            return DeliveryRepo(s).alert_for(delivery_key)

    def update_last_seen(self, alert_id: int, last_seen: datetime) -> None:
        """The alert's person was still in view until ``last_seen``; announces an 'updated' event.

        A purged alert (its authorization was revoked meanwhile) is silently gone: nothing to do.
        """
        with self.db.write() as s:
            alert = AlertRepo(s).find(alert_id)
            if alert is None:
                return
            if last_seen > alert.last_seen:
                alert.last_seen = last_seen
            public = load_public(s, alert.id)
        self.bus.publish(AlertEvent.of("updated", public, utcnow()))


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


class AlertQueries:
    """Read side for reviewers: alerts in their public shape and the (decrypted, audited) images."""

    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self.db = db
        self.cipher = cipher

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        camera: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[AlertPublic]:
        f = AlertFilter(camera=camera, status=status, limit=limit, before_id=before_id)
        with self.db.read() as s:
            return [public_alert(r) for r in AlertRepo(s).records(f)]

    def get(self, alert_id: int) -> AlertPublic:
        with self.db.read() as s:
            return public_alert(AlertRepo(s).record(alert_id))

    def awaiting(self, username: str) -> int:
        """How many alerts wait for ``username``'s review (the sidebar badge)."""
        with self.db.read() as s:
            return AlertRepo(s).count_awaiting(username)

    def crop(self, alert_id: int, *, viewer: str) -> bytes:
        """The probe face crop (bystanders masked), decrypted; the viewing is audited."""
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            if alert.crop is None:
                raise NotFound(f"alert {alert_id} has no face crop (removed by retention)")
            data = (
                self.cipher.open(alert.crop, f"alert:{alert.id}".encode())
                if alert.crop_encrypted
                else alert.crop
            )
            _audit_view(s, viewer, f"alert:{alert_id}", {"what": "alert crop"})
            return data

    def enrolled_photo(self, alert_id: int, *, viewer: str) -> bytes:
        """The enrolled photo of the template that matched, decrypted; the viewing is audited."""
        with self.db.write() as s:
            tpl = AlertRepo(s).matched_template(AlertRepo(s).get(alert_id))
            data = _open_photo(self.cipher, tpl, f"alert {alert_id}")
            details = {"what": "enrolled photo", "template_id": tpl.id if tpl else None}
            _audit_view(s, viewer, f"alert:{alert_id}", details)
            return data

    def subject_photo(self, subject_id: int, *, viewer: str) -> bytes:
        with self.db.write() as s:
            subject = SubjectRepo(s).get(subject_id)
            data = _open_photo(
                self.cipher, TemplateRepo(s).first_for_subject(subject.id), f"subject {subject_id}"
            )
            _audit_view(s, viewer, f"subject:{subject_id}", {"what": "enrolled photo"})
            return data


def _audit_view(s: Session, viewer: str, target: str, details: Mapping[str, object]) -> None:
    audit.record(s, actor=viewer, action="biometric.view", target=target, details=dict(details))


def _open_photo(cipher: DataCipher, tpl: Template | None, label: str) -> bytes:
    if tpl is None or tpl.photo is None:
        raise NotFound(f"{label} has no enrolled photo")
    aad = f"template:{tpl.id}:photo".encode()
    return cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
