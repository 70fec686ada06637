"""Human review of candidate alerts: the two-person rule.

* A candidate alert becomes ``confirmed`` only after two DIFFERENT users confirm it; after the
  first confirmation it is ``pending_second``.
* Any rejection (with a reason) makes it ``rejected``: a false alert, kept for the statistics.
* The same user can never give both confirmations (:class:`~vigil.errors.Conflict`, HTTP 409).
* A decided alert cannot be reviewed again, and no alert can be reviewed once its authorization
  has expired or ended (so nothing is dispatched under an expired authorization).
* Every review is audited as ``alert.review`` and, once committed, announced on the AlertBus as
  ONE event (``reviewed`` for a first confirmation, ``confirmed``, ``rejected``) whoever called:
  the API, the CLI or another service. Only confirmed alerts leave the deployment: ``outbox``
  queues :func:`~vigil.domain.events.outbound_payload` of the confirmed alert for every
  destination inside the confirming transaction, so a confirmation and its deliveries commit
  together (delivery: :class:`vigil.services.outbound.OutboxDeliverer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from vigil.accountability import audit
from vigil.db.models import Alert, Review
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertEvent, AlertKind, AlertPublic, outbound_payload
from vigil.errors import Conflict, InputError
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.services.alerts import AlertBus, load_public
from vigil.services.authorizations import ensure_in_force
from vigil.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.services.outbound import Outbox

Decision = Literal["confirm", "reject"]
MAX_REASON = 2000
_KIND: dict[AlertStatus, AlertKind] = {
    AlertStatus.pending_second: "reviewed",
    AlertStatus.confirmed: "confirmed",
    AlertStatus.rejected: "rejected",
}


class ReviewService:
    """Verb :meth:`review`; publishes the resulting event through ``bus`` after the commit."""

    def __init__(
        self, db: Database, bus: AlertBus | None = None, *, outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.bus = bus or AlertBus()
        self.outbox = outbox

    def review(self, alert_id: int, reviewer: str, decision: str, reason: str = "") -> AlertPublic:
        """Record one review; returns the alert as it now stands (also announced on the bus)."""
        decision_ = self._check(decision, reason)
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            self._authorization_guard(s, alert)
            confirmers = self._guard(alert, reviewer, decision_)
            alert.reviews.append(
                Review(
                    alert_id=alert.id, username=reviewer, decision=decision_, reason=reason.strip()
                )
            )
            self._decide(alert, decision_, (*confirmers, reviewer))
            audit.record(
                s,
                actor=reviewer,
                action="alert.review",
                target=f"alert:{alert_id}",
                details={
                    "decision": decision_,
                    "reason": reason.strip(),
                    "status": alert.status.value,
                    "confirmations": len(confirmers) + (decision_ == "confirm"),
                },
            )
            public = load_public(s, alert.id)
            if public.status is AlertStatus.confirmed and self.outbox is not None:
                # Deliveries commit with the confirmation (transactional outbox).
                self.outbox.enqueue(s, alert.id, outbound_payload(public))
        self.bus.publish(AlertEvent.of(_KIND[public.status], public, utcnow()))
        return public

    @staticmethod
    def _authorization_guard(s: Session, alert: Alert) -> None:
        """No review (and so no dispatch) once the alert's authorization has expired or ended."""
        ensure_in_force(AuthorizationRepo(s).get_by_id(alert.authorization_id))

    @staticmethod
    def _guard(alert: Alert, reviewer: str, decision: Decision) -> tuple[str, ...]:
        """The users who confirmed so far; refuses reviews the rule does not allow."""
        if alert.status in (AlertStatus.confirmed, AlertStatus.rejected):
            raise Conflict(
                f"alert {alert.id} is already {alert.status.value}; "
                "a decided alert cannot be reviewed again"
            )
        confirmers = tuple(r.username for r in alert.reviews if r.decision == "confirm")
        if decision == "confirm" and reviewer in confirmers:
            raise Conflict(
                f"you ({reviewer}) already confirmed alert {alert.id}",
                hint="the two-person rule needs a second, different user to confirm it",
            )
        return confirmers

    @staticmethod
    def _decide(alert: Alert, decision: Decision, confirmers: tuple[str, ...]) -> None:
        """Set the new status (and the decision time once it is final)."""
        if decision == "reject":
            alert.status = AlertStatus.rejected
            alert.decided_at = utcnow()
        elif len(confirmers) < 2:
            alert.status = AlertStatus.pending_second
        else:
            alert.status = AlertStatus.confirmed
            alert.decided_at = utcnow()

    @staticmethod
    def _check(decision: str, reason: str) -> Decision:
        if decision not in ("confirm", "reject"):
            raise InputError(
                f"decision {decision!r} is not allowed", hint="use 'confirm' or 'reject'"
            )
        if len(reason) > MAX_REASON:
            raise InputError(
                f"the reason is longer than {MAX_REASON} characters", hint="shorten it"
            )
        if decision == "reject" and not reason.strip():
            raise InputError(
                "a rejection needs a reason",
                hint="say why this is not the person (kept as a false alert)",
            )
        return decision  # type: ignore[return-value]
