"""One sighting marked "not this person" by a reviewer (issue 12: each sighting is reviewable).

* Who: the roles that review alerts, under the same checks as a review (the alert undecided, its
  authorization in force, no one-time password, no token its owner did not mint).
* A reason is required. The sighting stays stored (a *false sighting*, like a rejected alert,
  purged with its alert) with who rejected it, when and why.
* The alert's headline (score, crop and matched template) moves to the best sighting not
  rejected, so reviewers always see the highest-scoring face that may still be the person.
* Rejecting the alert's last sighting not rejected is refused (409) with a message to reject
  the alert itself: a wrong last face means a false alert, and deciding an alert goes through
  :class:`~vigil.services.reviews.ReviewService` alone (its two-person rule, its statistics,
  its one ``rejected`` event), never as a side effect of a sighting.
* The two confirmers must confirm the same faces: a rejection resets pending confirmations
  (:mod:`vigil.services.confirmations`), and the alert is a ``candidate`` again.
* Audited as ``alert.sighting_reject`` (the reason is stored on the sighting, not in the audit:
  free text about a person never goes into audit details) and announced as ONE ``updated``
  AlertEvent on the AlertBus (staged in the rejection's transaction, delivered locally after the
  commit: :mod:`vigil.services.alert_bus`).
"""

from __future__ import annotations

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.db.models import Alert, AlertSighting
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertEvent, AlertPublic
from vigil.errors import Conflict, InputError, NotFound
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.sealed import sighting_aad
from vigil.services.alerts import AlertBus, load_public
from vigil.services.authorizations import ensure_in_force
from vigil.services.confirmations import reset_confirmations
from vigil.services.reviews import MAX_REASON, check_credential
from vigil.timeutil import utcnow

ACTION = "alert.sighting_reject"


class SightingReviewService:
    """Verb :meth:`reject`; its event is staged on ``bus`` inside the transaction (relayed with
    it) and delivered locally after the commit."""

    def __init__(self, db: Database, cipher: DataCipher, bus: AlertBus | None = None) -> None:
        self.db = db
        self.cipher = cipher
        self.bus = bus or AlertBus()

    def reject(
        self,
        alert_id: int,
        ordinal: int,
        reviewer: str,
        reason: str,
        *,
        credential: str | None = None,
    ) -> AlertPublic:
        """Mark the alert's ``ordinal``-th sighting "not this person"; returns the alert now."""
        reason = _check_reason(reason)
        with self.db.write() as s:
            repo = AlertRepo(s)
            alert = repo.get(alert_id)
            ensure_in_force(AuthorizationRepo(s).get_by_id(alert.authorization_id))
            _undecided(alert)
            check_credential(s, reviewer, credential)
            rows = repo.sightings(alert.id)
            row = _target(alert.id, ordinal, rows)
            best = _best_other(alert.id, row, rows)
            row.rejected_at, row.rejected_by, row.rejection_reason = utcnow(), reviewer, reason
            reset = reset_confirmations(
                s, alert, actor=reviewer, why="sighting_rejected", sighting=row.id
            )
            self._headline(alert, best)
            details = {
                "sighting": row.id,
                "ordinal": row.ordinal,
                "score": round(row.score, 4),
                "headline_sighting": best.id,
                "headline_score": round(best.score, 4),
                "confirmations_reset": reset,
                "status": alert.status.value,
            }
            audit.record(
                s,
                actor=reviewer,
                action=ACTION,
                target=f"alert:{alert.id}",
                details=details,
                credential=credential,
            )
            public = load_public(s, alert.id)
            event = self.bus.stage(s, AlertEvent.of("updated", public, utcnow()))
        self.bus.deliver(event)
        return public

    def _headline(self, alert: Alert, best: AlertSighting) -> None:
        """The alert's score, matched template and crop become ``best``'s."""
        alert.score = best.score
        if best.template_id is not None:
            alert.template_id = best.template_id
        if best.crop is not None:
            crop = (
                self.cipher.open(best.crop, sighting_aad(alert.id, best.id))
                if best.crop_encrypted
                else best.crop
            )
            alert.crop = self.cipher.seal(crop, f"alert:{alert.id}".encode())
            alert.crop_encrypted = True


def _check_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InputError(
            "rejecting a sighting needs a reason",
            hint="say why this face is not the person (kept as a false sighting)",
        )
    if len(text) > MAX_REASON:
        raise InputError(f"the reason is longer than {MAX_REASON} characters", hint="shorten it")
    return text


def _undecided(alert: Alert) -> None:
    if alert.status in (AlertStatus.confirmed, AlertStatus.rejected):
        raise Conflict(
            f"alert {alert.id} is already {alert.status.value}; "
            "the sightings of a decided alert cannot be reviewed"
        )


def _best_other(alert_id: int, row: AlertSighting, rows: list[AlertSighting]) -> AlertSighting:
    """The best sighting not rejected once ``row`` is (the new headline); refuses to reject
    the last one."""
    others = [r for r in rows if r.rejected_at is None and r.id != row.id]
    if not others:
        raise Conflict(
            f"sighting {row.ordinal} is the only face of alert {alert_id} not rejected",
            hint="if it is not the person, reject the whole alert (decision 'reject' "
            "with your reason): it is then kept as a false alert",
        )
    return max(others, key=lambda r: (r.score, -r.ordinal))


def _target(alert_id: int, ordinal: int, rows: list[AlertSighting]) -> AlertSighting:
    row = next((r for r in rows if r.ordinal == ordinal), None)
    if row is None:
        raise NotFound(
            f"alert {alert_id} has no sighting {ordinal}",
            hint=f"see GET /api/alerts/{alert_id}: each sighting has its ordinal",
        )
    if row.rejected_at is not None:
        raise Conflict(
            f"sighting {ordinal} of alert {alert_id} was already rejected by {row.rejected_by}"
        )
    return row
