"""Human review of candidate alerts: the two-person rule.

* A candidate alert becomes ``confirmed`` only after two DIFFERENT users confirm it; after the
  first confirmation it is ``pending_second``.
* Any rejection (with a reason) makes it ``rejected``: a false alert, kept for the statistics.
* The same user can never give both confirmations (:class:`~vigil.errors.Conflict`, HTTP 409).
* A decided alert cannot be reviewed again.
* Only confirmed alerts leave the deployment: ``outbox`` queues their deliveries inside the
  confirming transaction (``on_confirmed``, a test seam, is called after it has committed).
  Every review is audited as ``alert.review``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.db.models import Alert, Authorization, Review, Subject, Template, Watchlist
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.errors import Conflict, InputError, NotFound
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.watchlists import SubjectRepo, TemplateRepo
from vigil.timeutil import utcnow

if TYPE_CHECKING:
    from vigil.services.outbound import Outbox

Decision = Literal["confirm", "reject"]
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class ConfirmedAlert:
    """What outside systems receive about a confirmed alert: no face image, no template."""

    alert_id: int
    camera: str
    subject_name: str
    watchlist: str
    authorization_reference: str
    purpose: str
    score: float
    threshold: float
    first_seen: datetime
    last_seen: datetime
    confirmed_by: tuple[str, ...]
    confirmed_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "event": "alert.confirmed",
            "alert_id": self.alert_id,
            "camera": self.camera,
            "subject": self.subject_name,
            "watchlist": self.watchlist,
            "authorization": self.authorization_reference,
            "purpose": self.purpose,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "confirmed_by": list(self.confirmed_by),
            "confirmed_at": self.confirmed_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    alert_id: int
    status: AlertStatus
    decision: Decision
    reviewer: str
    confirmations: int
    confirmed: ConfirmedAlert | None  # set when this review completed the confirmation


def _confirmed_view(
    s: Session, alert: Alert, confirmers: tuple[str, ...], at: datetime
) -> ConfirmedAlert:
    subj = s.get(Subject, alert.subject_id)
    wl = s.get(Watchlist, alert.watchlist_id)
    auth = s.get(Authorization, alert.authorization_id)
    return ConfirmedAlert(
        alert_id=alert.id,
        camera=alert.camera,
        subject_name=subj.name if subj else "?",
        watchlist=wl.name if wl else "?",
        authorization_reference=auth.reference if auth else "?",
        purpose=auth.purpose.value if auth else "?",
        score=alert.score,
        threshold=alert.threshold,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        confirmed_by=confirmers,
        confirmed_at=at,
    )


class ReviewService:
    def __init__(
        self,
        db: Database,
        *,
        on_confirmed: Callable[[ConfirmedAlert], object] | None = None,
        on_reviewed: Callable[[ReviewOutcome], object] | None = None,
        outbox: Outbox | None = None,  # durable-state: confirmed deliveries (transactional)
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.on_confirmed = on_confirmed
        self.on_reviewed = on_reviewed

    def review(
        self, alert_id: int, reviewer: str, decision: str, reason: str = ""
    ) -> ReviewOutcome:
        decision_ = self._check(decision, reason)
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            confirmers = self._guard(alert, reviewer, decision_)
            s.add(
                Review(
                    alert_id=alert.id, username=reviewer, decision=decision_, reason=reason.strip()
                )
            )
            confirmed = self._decide(s, alert, decision_, (*confirmers, reviewer))
            if confirmed is not None and self.outbox is not None:  # durable-state: outbox
                self.outbox.enqueue(s, alert.id, confirmed.as_json())
            count = len(confirmers) + (decision_ == "confirm")
            audit.record(
                s,
                actor=reviewer,
                action="alert.review",
                target=f"alert:{alert_id}",
                details={
                    "decision": decision_,
                    "reason": reason.strip(),
                    "status": alert.status.value,
                    "confirmations": count,
                },
            )
            outcome = ReviewOutcome(alert_id, alert.status, decision_, reviewer, count, confirmed)
        if self.on_reviewed is not None:
            self.on_reviewed(outcome)
        if confirmed is not None and self.on_confirmed is not None:
            self.on_confirmed(confirmed)
        return outcome

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
    def _decide(
        s: Session, alert: Alert, decision: Decision, confirmers: tuple[str, ...]
    ) -> ConfirmedAlert | None:
        """Set the new status; returns the outbound view when the alert became confirmed."""
        now = utcnow()
        if decision == "reject":
            alert.status = AlertStatus.rejected
            alert.decided_at = now
            return None
        if len(confirmers) < 2:
            alert.status = AlertStatus.pending_second
            return None
        alert.status = AlertStatus.confirmed
        alert.decided_at = now
        s.flush()
        return _confirmed_view(s, alert, confirmers, now)

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


@dataclass(frozen=True, slots=True)
class ReviewView:
    username: str
    decision: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as reviewers see it (names resolved, no image bytes)."""

    id: int
    camera: str
    subject_id: int
    subject_name: str
    watchlist: str
    authorization_reference: str
    score: float
    threshold: float
    pack: str
    status: AlertStatus
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    decided_at: datetime | None
    latency_ms: float | None
    has_crop: bool
    reviews: tuple[ReviewView, ...]


def _view(s: Session, alert: Alert) -> AlertView:
    subj = s.get(Subject, alert.subject_id)
    wl = s.get(Watchlist, alert.watchlist_id)
    auth = s.get(Authorization, alert.authorization_id)
    return AlertView(
        id=alert.id,
        camera=alert.camera,
        subject_id=alert.subject_id,
        subject_name=subj.name if subj else "?",
        watchlist=wl.name if wl else "?",
        authorization_reference=auth.reference if auth else "?",
        score=alert.score,
        threshold=alert.threshold,
        pack=alert.pack,
        status=alert.status,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        created_at=alert.created_at,
        decided_at=alert.decided_at,
        latency_ms=alert.latency_ms,
        has_crop=alert.crop is not None,
        reviews=tuple(
            ReviewView(r.username, r.decision, r.reason, r.created_at)
            for r in sorted(alert.reviews, key=lambda r: r.id)
        ),
    )


class AlertQueries:
    """Read side for reviewers: alert lists and the (decrypted, audited) face images."""

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
    ) -> list[AlertView]:
        with self.db.read() as s:
            alerts = AlertRepo(s).list(
                camera=camera, status=status, limit=limit, before_id=before_id
            )
            return [_view(s, a) for a in alerts]

    def get(self, alert_id: int) -> AlertView:
        with self.db.read() as s:
            return _view(s, AlertRepo(s).get(alert_id))

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
            audit.record(
                s,
                actor=viewer,
                action="biometric.view",
                target=f"alert:{alert_id}",
                details={"what": "alert crop"},
            )
            return data

    def enrolled_photo(self, alert_id: int, *, viewer: str) -> bytes:
        """The enrolled photo of the template that matched, decrypted; the viewing is audited."""
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            tpl = s.get(Template, alert.template_id) if alert.template_id else None
            if tpl is None:
                tpl = TemplateRepo(s).first_for_subject(alert.subject_id)
            data = _open_photo(self.cipher, tpl, f"alert {alert_id}")
            audit.record(
                s,
                actor=viewer,
                action="biometric.view",
                target=f"alert:{alert_id}",
                details={"what": "enrolled photo", "template_id": tpl.id if tpl else None},
            )
            return data

    def subject_photo(self, subject_id: int, *, viewer: str) -> bytes:
        with self.db.write() as s:
            subject = SubjectRepo(s).get(subject_id)
            data = _open_photo(
                self.cipher, TemplateRepo(s).first_for_subject(subject.id), f"subject {subject_id}"
            )
            audit.record(
                s,
                actor=viewer,
                action="biometric.view",
                target=f"subject:{subject_id}",
                details={"what": "enrolled photo"},
            )
            return data


def _open_photo(cipher: DataCipher, tpl: Template | None, label: str) -> bytes:
    if tpl is None or tpl.photo is None:
        raise NotFound(f"{label} has no enrolled photo")
    aad = f"template:{tpl.id}:photo".encode()
    return cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
