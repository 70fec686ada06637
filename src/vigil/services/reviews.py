"""Human review of candidate alerts: the two-person rule.

* A candidate alert becomes ``confirmed`` only after two DIFFERENT users confirm it; after the
  first confirmation it is ``pending_second``.
* Any rejection (with a reason) makes it ``rejected``: a false alert, kept for the statistics.
* The same user can never give both confirmations (:class:`~vigil.errors.Conflict`, HTTP 409).
* The two confirmations come from two different people AND two independent credential chains.
  A user's credential chain is who issued their credential: their own password, or a one-time
  password or token someone else issued (``user.create``, ``user.password_reset``,
  ``token.create`` in the audit log). The second confirmation is refused (409) when either
  confirmer issued a credential to the other since the alert was raised, even if it has been
  changed since: whoever set a one-time password can also have changed it. (A takeover before
  the alert locks the real user out, and shows in the audit.) Together with the rules below,
  one person cannot produce two confirmations.
* Nobody reviews with a credential someone else holds: a user who still has a one-time password
  (set at creation or by a reset) cannot review (403) by any path, and a review with an API token
  that its owner did not create is refused (403); tokens are only minted by their owner
  (:meth:`vigil.services.users.UserService.create_token`).
* Every review's audit record names the credential used (``details.credential``: the session's
  or the token's id) when the caller passes it (the web does, for every request).
* A confirmation records the sightings it covers (those not rejected); both confirmations must
  cover the same ones, so a change of that set resets pending confirmations
  (:mod:`vigil.services.confirmations`). One sighting is rejected with
  :class:`vigil.services.sighting_reviews.SightingReviewService`.
* A decided alert cannot be reviewed again, and no alert can be reviewed once its authorization
  has expired or ended (so nothing is dispatched under an expired authorization).
* Every review is audited as ``alert.review`` and announced on the AlertBus as ONE event
  (``reviewed`` for a first confirmation, ``confirmed``, ``rejected``) whoever called: the API,
  the CLI or another service. The event is staged in the review's transaction (relayed to other
  servers with it) and delivered locally once it committed (:mod:`vigil.services.alert_bus`).
  Only confirmed alerts leave the deployment: ``outbox`` queues
  :func:`~vigil.domain.events.outbound_payload` of the confirmed alert for every destination
  inside the confirming transaction, so a confirmation and its deliveries commit together
  (delivery: :class:`vigil.services.outbound.OutboxDeliverer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.db.models import Alert, Review
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertEvent, AlertKind, AlertPublic, outbound_payload
from vigil.errors import Conflict, InputError, PermissionDenied
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.users import CredentialHistory, UserRepo
from vigil.services.alerts import AlertBus, load_public
from vigil.services.authorizations import ensure_in_force
from vigil.services.confirmations import confirmed_set, live_confirmations, reset_confirmations
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
    """Verb :meth:`review`; its event is staged on ``bus`` inside the review's transaction
    (relayed with it) and delivered locally after the commit."""

    def __init__(
        self, db: Database, bus: AlertBus | None = None, *, outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.bus = bus or AlertBus()
        self.outbox = outbox

    def review(
        self,
        alert_id: int,
        reviewer: str,
        decision: str,
        reason: str = "",
        *,
        credential: str | None = None,
    ) -> AlertPublic:
        """Record one review; returns the alert as it now stands (also announced on the bus).

        ``credential`` names how the reviewer authenticated (``session:<id>``, ``token:<id>``);
        it goes into the audit record and a token's origin is checked.
        """
        decision_ = self._check(decision, reason)
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            self._authorization_guard(s, alert)
            confirmers = self._guard(alert, reviewer, decision_)
            check_credential(s, reviewer, credential)
            covered = None
            if decision_ == "confirm":
                _check_independent(s, alert, reviewer, confirmers)
                covered = confirmed_set(AlertRepo(s).sightings(alert.id))
                confirmers = _same_faces(s, alert, reviewer, covered)
            review = Review(
                alert_id=alert.id,
                username=reviewer,
                decision=decision_,
                reason=reason.strip(),
                sightings=covered,
            )
            alert.reviews.append(review)
            self._decide(alert, decision_, (*confirmers, reviewer))
            _audit(s, alert, review, len(confirmers) + (decision_ == "confirm"), credential)
            public = load_public(s, alert.id)
            if public.status is AlertStatus.confirmed and self.outbox is not None:
                # Deliveries commit with the confirmation (transactional outbox).
                self.outbox.enqueue(s, alert.id, outbound_payload(public))
            event = self.bus.stage(s, AlertEvent.of(_KIND[public.status], public, utcnow()))
        self.bus.deliver(event)
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
        confirmers = tuple(r.username for r in live_confirmations(alert))
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


def _audit(
    s: Session, alert: Alert, review: Review, confirmations: int, credential: str | None
) -> None:
    audit.record(
        s,
        actor=review.username,
        action="alert.review",
        target=f"alert:{alert.id}",
        details={
            "decision": review.decision,
            "reason": review.reason,
            "status": alert.status.value,
            "confirmations": confirmations,
            "sightings": review.sightings,
        },
        credential=credential,
    )


def check_credential(s: Session, reviewer: str, credential: str | None) -> None:
    """Refuse a review made with a one-time password or with a token its owner did not mint."""
    user = UserRepo(s).by_name(reviewer)
    if user is not None and user.must_change_password:
        raise PermissionDenied(
            f"{reviewer} still has a one-time password and cannot review",
            hint="change it first (POST /api/auth/password); it was set by someone else",
        )
    kind, _, ident = (credential or "").partition(":")
    if kind == "token" and ident.isdigit():
        minter = CredentialHistory(s).token_minter(int(ident))
        if minter != reviewer:
            raise PermissionDenied(
                f"this API token was created by {minter or 'an unknown user'}, "
                f"not by {reviewer}; it cannot be used to review",
                hint="revoke it, log in and create your own token (POST /api/tokens)",
            )


def _same_faces(s: Session, alert: Alert, reviewer: str, covered: list[int]) -> tuple[str, ...]:
    """The confirmers that still count once ``reviewer`` confirms the sightings ``covered``.

    Both confirmations must cover the same sightings. The services reset pending confirmations
    whenever the set changes, so this only acts on a confirmation that slipped past them: it is
    superseded (audited) and this one becomes the first.
    """
    for earlier in live_confirmations(alert):
        if earlier.sightings is not None and sorted(earlier.sightings) != covered:
            reset_confirmations(
                s,
                alert,
                actor=reviewer,
                why="sightings_changed",
                sighting=covered[0] if covered else None,
            )
            break
    return tuple(r.username for r in live_confirmations(alert))


def _check_independent(
    s: Session, alert: Alert, reviewer: str, confirmers: tuple[str, ...]
) -> None:
    """Refuse a confirmation whose credential chain and an earlier confirmer's are linked."""
    history = CredentialHistory(s)
    for earlier in confirmers:
        for by, to in ((earlier, reviewer), (reviewer, earlier)):
            issued = history.issued(by=by, to=to, since=alert.created_at)
            if issued:
                raise Conflict(
                    f"{by} issued credentials to {to} ({', '.join(sorted(set(issued)))}) since "
                    f"alert {alert.id} was raised, so their confirmations are not independent",
                    hint="the two-person rule needs a second user with their own credentials: "
                    "ask another reviewer to confirm",
                )
