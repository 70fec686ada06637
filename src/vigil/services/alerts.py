"""Candidate alerts: storing them (sealed, audited, authority re-checked), reading them, and
announcing every change as ONE :class:`~vigil.domain.events.AlertEvent`.

:class:`AlertStore` writes a candidate only if, inside the write transaction, its authorization is
still active and covers the camera at that time; otherwise it raises PermissionDenied and nothing
is stored. The crop is sealed with the data cipher (aad ``b"alert:<id>"``) and an
``alert.candidate`` audit event names the input (camera, time range, template id).

Every matched track of an alert is its own sighting (``alert_sightings``: probe crop sealed with
aad ``b"alert:<id>:sighting:<sid>"``, score, times): :meth:`AlertStore.save` writes the first,
:meth:`AlertStore.save_sighting` adds another track's or improves a track's own (a better shot).
The alert's headline crop and score are always its best sighting's; a decided alert takes no new
sighting (the pipeline opens a new alert, so no match hides behind a decision).

:class:`AlertBus` is the one publisher of alert events. Every producer holds it: AlertStore
(``candidate``, ``updated``), ReviewService (``reviewed``, ``confirmed``, ``rejected``) and the
authorization purge (``purged``). Producers publish AFTER their transaction commits. Callbacks run
on the publishing thread and must not block; a failing callback is logged and never stops the
others.

:class:`AlertQueries` is the read side for reviewers: alerts in their public shape, the list's
pages serialized (kept by an :class:`~vigil.services.alert_cache.AlertPageCache` when the app
gives one) and the (decrypted, audited) face images.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.pseudonyms import SubjectRefs
from vigil.accountability.threshold import threshold_in_force
from vigil.config import Settings
from vigil.db.models import Alert, AlertSighting, Authorization, Review, Template
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent, AlertPublic, ReviewPublic, SightingPublic
from vigil.errors import Conflict, NotFound, PermissionDenied
from vigil.repositories.alerts import AlertFilter, AlertRecord, AlertRepo, SightingRecord
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.deliveries import DeliveryRepo
from vigil.repositories.sealed import sighting_aad
from vigil.repositories.watchlists import SubjectRepo, TemplateRepo, WatchlistRepo
from vigil.services.alert_cache import AlertPage, AlertPageCache, PageQuery, PageSerializer
from vigil.services.confirmations import reset_confirmations
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, SightingUpdate

log = logging.getLogger(__name__)

ACTOR = "system:pipeline"
OPEN = (AlertStatus.candidate, AlertStatus.pending_second)  # statuses that take new sightings

Subscriber = Callable[[AlertEvent], None]


class Relay(Protocol):
    """Carries a published event to the other processes (:mod:`vigil.services.alert_relay`)."""

    def send(self, event: AlertEvent) -> None: ...


class AlertBus:
    """Publish/subscribe for alert events (the one publisher every producer holds).

    :meth:`publish` delivers to this process's subscribers, then hands the event to the attached
    relay, if any (several servers on one PostgreSQL: LISTEN/NOTIFY); the relay delivers the
    other processes' events here with :meth:`deliver`, which reaches local subscribers only.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._relay: Relay | None = None

    def attach_relay(self, relay: Relay | None) -> None:
        self._relay = relay

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: AlertEvent) -> None:
        """An event raised in this process: local subscribers, then the other processes."""
        self.deliver(event)
        relay = self._relay
        if relay is not None:
            try:
                relay.send(event)
            except Exception:  # the local delivery stands; other processes miss this one
                log.exception(
                    "alert %s: could not relay the event to other processes", event.alert_id
                )

    def deliver(self, event: AlertEvent) -> None:
        """Hand ``event`` to this process's subscribers only."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the pipeline
                log.exception("alert subscriber %r failed on alert %s", callback, event.alert_id)


def public_sightings(record: AlertRecord) -> tuple[SightingPublic, ...]:
    """The alert's sightings, best score first and rejected ones last (so the first is the
    headline: the best sighting not rejected); overlapping ones are flagged as conflicting."""
    rows = record.sightings

    def overlaps(row: SightingRecord) -> bool:
        return any(
            other.id != row.id
            and other.first_seen <= row.last_seen
            and row.first_seen <= other.last_seen
            for other in rows
        )

    return tuple(
        SightingPublic(
            id=row.id,
            ordinal=row.ordinal,
            score=row.score,
            seen_at=row.seen_at,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            conflicting=row.conflicting or overlaps(row),
            has_crop=row.has_crop,
            crop_url=f"/api/alerts/{record.alert.id}/sightings/{row.id}/crop",
            rejected=row.rejected_at is not None,
            rejected_by=row.rejected_by,
            rejected_at=row.rejected_at,
            rejection_reason=row.rejection_reason,
        )
        for row in sorted(rows, key=lambda r: (r.rejected_at is not None, -r.score, r.ordinal))
    )


def public_review(review: Review) -> ReviewPublic:
    return ReviewPublic(
        username=review.username,
        decision=review.decision,  # type: ignore[arg-type]
        reason=review.reason,
        created_at=review.created_at,
        sightings=tuple(review.sightings or ()),
        superseded=review.superseded_at is not None,
    )


def public_alert(record: AlertRecord) -> AlertPublic:
    """The public shape of one alert row with its names resolved."""
    alert = record.alert
    reviews = tuple(public_review(r) for r in sorted(alert.reviews, key=lambda r: r.id))
    sightings = public_sightings(record)
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
        confirmations=sum(r.decision == "confirm" and not r.superseded for r in reviews),
        sightings=sightings,
        conflicting_sightings=any(x.conflicting for x in sightings),
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
            self._new_sighting(s, alert, SightingUpdate(alert.id, 1, candidate))
            audit.record(
                s,
                actor=ACTOR,
                action="alert.candidate",
                target=f"alert:{alert.id}",
                details=_audit_details(
                    candidate,
                    alert,
                    SubjectRefs(self.cipher).of(s, subject.id),
                    watchlist.name,
                    auth.reference,
                ),
            )
            if delivery_key is not None:
                DeliveryRepo(s).add(delivery_key, alert.id)
            public = load_public(s, alert.id)
        self.bus.publish(
            AlertEvent.of(
                "candidate",
                public,
                utcnow(),
                candidate.captured_monotonic,
                candidate.first_shot_monotonic,
            )
        )
        return public.id

    def save_sighting(self, update: SightingUpdate, *, delivery_key: str | None = None) -> bool:
        """Add a track's sighting to its alert, or give a track's own a better shot.

        False when the alert takes none: purged meanwhile, or already decided (then the pipeline
        opens a new alert). PermissionDenied when the authority no longer holds. The headline
        crop and score follow the best sighting; announces an 'updated' event.
        ``delivery_key`` (remote cameras): an update already applied under this key is not
        applied again (True, nothing published).
        """
        candidate = update.candidate
        with self.db.write() as s:
            if delivery_key is not None and DeliveryRepo(s).alert_for(delivery_key) is not None:
                return True
            repo = AlertRepo(s)
            alert = repo.find(update.alert_id)
            if alert is None or alert.status not in OPEN:
                return False
            _check_authority(AuthorizationRepo(s).get_by_id(alert.authorization_id), candidate)
            if candidate.match.entry.subject_id != alert.subject_id:
                raise Conflict(
                    f"a sighting of subject {candidate.match.entry.subject_id} cannot join alert "
                    f"{alert.id} of subject {alert.subject_id}",
                    hint="a different subject's match is a new alert",
                )
            row = repo.sighting(alert.id, update.ordinal)
            if row is None:
                row = self._new_sighting(s, alert, update)
                # a face the earlier confirmer never saw: the two must confirm the same set
                reset_confirmations(s, alert, actor=ACTOR, why="sighting_added", sighting=row.id)
            elif candidate.match.score > row.score:
                self._improve(row, update)
            else:
                row.last_seen = max(row.last_seen, candidate.last_seen)
                row.conflicting = row.conflicting or update.conflicting
            alert.last_seen = max(alert.last_seen, candidate.last_seen)
            # the best sighting not rejected is the headline
            if row.rejected_at is None and row.score > alert.score:
                alert.score = row.score
                alert.template_id = candidate.match.entry.template_id
                alert.crop = self.cipher.seal(candidate.crop_jpeg, f"alert:{alert.id}".encode())
                alert.crop_encrypted = True
            details = _sighting_details(update, row)
            audit.record(
                s, actor=ACTOR, action="alert.sighting", target=f"alert:{alert.id}", details=details
            )
            if delivery_key is not None:
                DeliveryRepo(s).add(delivery_key, alert.id)
            public = load_public(s, alert.id)
        self.bus.publish(AlertEvent.of("updated", public, utcnow(), candidate.captured_monotonic))
        return True

    def _new_sighting(self, s: Session, alert: Alert, update: SightingUpdate) -> AlertSighting:
        candidate = update.candidate
        row = AlertRepo(s).add_sighting(
            AlertSighting(
                alert_id=alert.id,
                ordinal=update.ordinal,
                score=candidate.match.score,
                seen_at=candidate.seen_at or candidate.last_seen,
                first_seen=candidate.first_seen,
                last_seen=candidate.last_seen,
                conflicting=update.conflicting,
                crop=None,
                crop_encrypted=False,
                template_id=candidate.match.entry.template_id,
            )
        )
        self._seal(row, candidate.crop_jpeg)
        return row

    def _improve(self, row: AlertSighting, update: SightingUpdate) -> None:
        """The same track, a better shot: its sighting takes the better crop and score."""
        candidate = update.candidate
        row.score = candidate.match.score
        row.template_id = candidate.match.entry.template_id
        row.seen_at = candidate.seen_at or candidate.last_seen
        row.first_seen = min(row.first_seen, candidate.first_seen)
        row.last_seen = max(row.last_seen, candidate.last_seen)
        row.conflicting = row.conflicting or update.conflicting
        self._seal(row, candidate.crop_jpeg)

    def _seal(self, row: AlertSighting, crop_jpeg: bytes) -> None:
        row.crop = self.cipher.seal(crop_jpeg, sighting_aad(row.alert_id, row.id))
        row.crop_encrypted = True

    def delivered(self, delivery_key: str) -> int | None:
        """The alert stored under a remote candidate's delivery key, or None."""
        with self.db.read() as s:
            return DeliveryRepo(s).alert_for(delivery_key)

    def update_last_seen(
        self, alert_id: int, last_seen: datetime, ordinal: int | None = None
    ) -> None:
        """The alert's person was still in view until ``last_seen``; announces an 'updated' event.

        ``ordinal`` names the sighting (track) that ended. A purged alert (its authorization was
        revoked meanwhile) is silently gone: nothing to do.
        """
        with self.db.write() as s:
            repo = AlertRepo(s)
            alert = repo.find(alert_id)
            if alert is None:
                return
            if last_seen > alert.last_seen:
                alert.last_seen = last_seen
            row = None if ordinal is None else repo.sighting(alert.id, ordinal)
            if row is not None and last_seen > row.last_seen:
                row.last_seen = last_seen
            public = load_public(s, alert.id)
        self.bus.publish(AlertEvent.of("updated", public, utcnow()))


def _check_authority(auth: Authorization, candidate: CandidateAlert) -> None:
    """Defence in depth: the authorization must still hold when the alert is written."""
    covered = auth.cameras is None or candidate.camera in auth.cameras
    in_window = auth.valid_from <= candidate.first_seen and candidate.last_seen < auth.expires_at
    if auth.status is not AuthorizationStatus.active or not covered or not in_window:
        raise PermissionDenied(
            # by id, not reference: the pipeline logs this message, and logs carry no reference
            f"authorization {auth.id} ({auth.status.value}) does not cover camera "
            f"{candidate.camera!r} at {candidate.last_seen.isoformat()}; "
            "the candidate was discarded"
        )


def _sighting_details(update: SightingUpdate, row: AlertSighting) -> dict[str, object]:
    candidate = update.candidate
    return {
        "input": {
            "camera": candidate.camera,
            "from": candidate.first_seen.isoformat(),
            "to": candidate.last_seen.isoformat(),
            "template_id": candidate.match.entry.template_id,
        },
        "sighting": row.id,
        "ordinal": update.ordinal,
        "score": round(candidate.match.score, 4),
        "kept_score": round(row.score, 4),
        "conflicting": update.conflicting,
    }


def _audit_details(
    candidate: CandidateAlert, alert: Alert, subject_ref: str, watchlist: str, reference: str
) -> dict[str, object]:
    """What EU AI Act Art 12(3) asks of a match: the input, the reference database, the score.

    The subject is named by its pseudonymous reference, never by name (a purge unlinks it)."""
    return {
        "input": {
            "camera": candidate.camera,
            "from": candidate.first_seen.isoformat(),
            "to": candidate.last_seen.isoformat(),
            "template_id": candidate.match.entry.template_id,
        },
        "subject": subject_ref,
        "watchlist": watchlist,
        "authorization": reference,
        "score": round(candidate.match.score, 4),
        "threshold": alert.threshold,
        "pack": alert.pack,
    }


class AlertQueries:
    """Read side for reviewers: alerts in their public shape and the (decrypted, audited) images.

    ``pages`` (optional) keeps serialized list pages; whoever passes one must subscribe its
    ``on_event`` to the AlertBus, or the pages would never go stale (see vigil.web.app).
    """

    def __init__(
        self, db: Database, cipher: DataCipher, *, pages: AlertPageCache | None = None
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.pages = pages
        self._serializer = PageSerializer()

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

    def cached_page(self, query: PageQuery) -> AlertPage | None:
        """The kept page for ``query``, or None; never touches the database (safe on the event
        loop)."""
        return self.pages.cached(query) if self.pages is not None else None

    def page(self, query: PageQuery) -> AlertPage:
        """One page of the list as JSON bytes with its ETag (from the cache when there is one)."""

        def load() -> list[AlertPublic]:
            return self.list(
                status=query.status,
                camera=query.camera,
                limit=query.limit,
                before_id=query.before_id,
            )

        if self.pages is None:
            return self._serializer.serialize(query, load())
        return self.pages.page(query, load)

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

    def sighting_crop(self, alert_id: int, sighting_id: int, *, viewer: str) -> bytes:
        """One sighting's probe crop (bystanders masked), decrypted; the viewing is audited."""
        with self.db.write() as s:
            row = AlertRepo(s).get_sighting(alert_id, sighting_id)
            if row.crop is None:
                raise NotFound(
                    f"sighting {sighting_id} of alert {alert_id} has no face crop "
                    "(removed by retention)"
                )
            data = (
                self.cipher.open(row.crop, sighting_aad(alert_id, row.id))
                if row.crop_encrypted
                else row.crop
            )
            details = {"what": "sighting crop", "sighting": row.id, "ordinal": row.ordinal}
            _audit_view(s, viewer, f"alert:{alert_id}", details)
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
            ref = SubjectRefs(self.cipher).of(s, subject.id)
            _audit_view(s, viewer, f"subject:{ref}", {"what": "enrolled photo"})
            return data


def _audit_view(s: Session, viewer: str, target: str, details: Mapping[str, object]) -> None:
    audit.record(s, actor=viewer, action="biometric.view", target=target, details=dict(details))


def _open_photo(cipher: DataCipher, tpl: Template | None, label: str) -> bytes:
    if tpl is None or tpl.photo is None:
        raise NotFound(f"{label} has no enrolled photo")
    aad = f"template:{tpl.id}:photo".encode()
    return cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
