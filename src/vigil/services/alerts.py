"""Candidate alerts: storing them (sealed, audited, authority re-checked) and announcing every
change as ONE :class:`~vigil.domain.events.AlertEvent`.

:class:`AlertStore` writes a candidate only if, inside the write transaction, its authorization is
still active and covers the camera at that time; otherwise it raises PermissionDenied and nothing
is stored. The crop is sealed with the data cipher (aad ``b"alert:<id>"``) and an
``alert.candidate`` audit event names the input (camera, time range, template id).

Every matched track of an alert is its own sighting (``alert_sightings``: probe crop sealed with
aad ``b"alert:<id>:sighting:<sid>"``, score, times): :meth:`AlertStore.save` writes the first,
:meth:`AlertStore.save_sighting` adds another track's or improves a track's own (a better shot).
The alert's headline crop and score are always its best sighting's; a decided alert takes no new
sighting (the pipeline opens a new alert, so no match hides behind a decision).

Events go through the :class:`~vigil.services.alert_bus.AlertBus` (every producer holds it):
staged inside the change's transaction (relayed to other processes with it), delivered to this
process's subscribers after the commit. The read side for reviewers is
:class:`~vigil.services.alert_queries.AlertQueries`; the public shape,
:mod:`vigil.services.alert_public`. Both names, and the bus's, are importable from here too.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.pseudonyms import SubjectRefs
from vigil.accountability.threshold import enrolled_now, threshold_in_force
from vigil.config import Settings
from vigil.db.models import Alert, AlertSighting, Authorization, Subject, Watchlist
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, PermissionDenied
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.deliveries import DeliveryRepo
from vigil.repositories.sealed import sighting_aad
from vigil.repositories.watchlists import SubjectRepo, WatchlistRepo
from vigil.services.alert_bus import AlertBus as AlertBus
from vigil.services.alert_bus import Relay as Relay
from vigil.services.alert_bus import StagedEvents as StagedEvents
from vigil.services.alert_bus import Subscriber as Subscriber
from vigil.services.alert_public import load_public as load_public
from vigil.services.alert_public import public_alert as public_alert
from vigil.services.alert_public import public_review as public_review
from vigil.services.alert_public import public_sightings as public_sightings
from vigil.services.alert_queries import AlertQueries as AlertQueries
from vigil.services.confirmations import reset_confirmations
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, SightingUpdate

ACTOR = "system:pipeline"
OPEN = (AlertStatus.candidate, AlertStatus.pending_second)  # statuses that take new sightings


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
        stored again; its alert id is returned and nothing is announced.
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
            alert = self._new_alert(s, candidate, auth, subject, watchlist)
            if delivery_key is not None:
                DeliveryRepo(s).add(delivery_key, alert.id)
            event = self.bus.stage(
                s,
                AlertEvent.of(
                    "candidate",
                    load_public(s, alert.id),
                    utcnow(),
                    candidate.captured_monotonic,
                    candidate.first_shot_monotonic,
                ),
            )
        self.bus.deliver(event)
        return alert.id

    def _new_alert(
        self,
        s: Session,
        candidate: CandidateAlert,
        auth: Authorization,
        subject: Subject,
        watchlist: Watchlist,
    ) -> Alert:
        """The alert row with its sealed crop, its first sighting and its audit record."""
        alert = AlertRepo(s).add(
            Alert(
                camera=candidate.camera,
                subject_id=subject.id,
                watchlist_id=watchlist.id,
                authorization_id=auth.id,
                template_id=candidate.match.entry.template_id,
                score=candidate.match.score,
                threshold=threshold_in_force(
                    s, self.settings, self.pack, enrolled_now(s, self.pack)
                ),
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
        ref = SubjectRefs(self.cipher).of(s, subject.id)
        details = _audit_details(candidate, alert, ref, watchlist.name, auth.reference)
        audit.record(
            s, actor=ACTOR, action="alert.candidate", target=f"alert:{alert.id}", details=details
        )
        return alert

    def save_sighting(self, update: SightingUpdate, *, delivery_key: str | None = None) -> bool:
        """Add a track's sighting to its alert, or give a track's own a better shot.

        False when the alert takes none: purged meanwhile, or already decided (then the pipeline
        opens a new alert). PermissionDenied when the authority no longer holds. The headline
        crop and score follow the best sighting; announces an 'updated' event.
        ``delivery_key`` (remote cameras): an update already applied under this key is not
        applied again (True, nothing announced).
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
            row = self._apply(s, alert, update)
            details = _sighting_details(update, row)
            audit.record(
                s, actor=ACTOR, action="alert.sighting", target=f"alert:{alert.id}", details=details
            )
            if delivery_key is not None:
                DeliveryRepo(s).add(delivery_key, alert.id)
            public = load_public(s, alert.id)
            event = self.bus.stage(
                s, AlertEvent.of("updated", public, utcnow(), candidate.captured_monotonic)
            )
        self.bus.deliver(event)
        return True

    def _apply(self, s: Session, alert: Alert, update: SightingUpdate) -> AlertSighting:
        """The track's sighting added or updated; the alert's last_seen and headline follow."""
        candidate = update.candidate
        row = AlertRepo(s).sighting(alert.id, update.ordinal)
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
        return row

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
            event = self.bus.stage(s, AlertEvent.of("updated", load_public(s, alert.id), utcnow()))
        self.bus.deliver(event)


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
