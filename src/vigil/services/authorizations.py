"""Authorizations: the legal authority without which no watchlist entry is ever matched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vigil.accountability import audit
from vigil.accountability.retention import scrub
from vigil.db.models import Authorization
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus, Purpose
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, InputError
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.watchlists import SubjectRepo, WatchlistRepo
from vigil.services.alert_bus import AlertBus, StagedEvents
from vigil.timeutil import utcnow

PublicStatus = Literal["active", "expired", "revoked", "refused"]


def public_status(
    status: AuthorizationStatus, expires_at: datetime, now: datetime | None = None
) -> PublicStatus:
    """The status people read: an active authorization whose expiry has passed is "expired"
    (computed, never stored: expiry needs no job to take effect)."""
    if status is AuthorizationStatus.active and expires_at <= (now or utcnow()):
        return "expired"
    return status.value  # type: ignore[return-value]


def ensure_in_force(auth: Authorization, now: datetime | None = None) -> None:
    """Refuse (Conflict) acting on an authorization that is expired, revoked or refused."""
    state = public_status(auth.status, auth.expires_at, now)
    if state != "active":
        raise Conflict(
            f"authorization {auth.reference!r} is {state} (expiry "
            f"{auth.expires_at.isoformat(timespec='minutes')}); its alerts can no longer be "
            "reviewed or dispatched",
            hint="ask for a new authorization if the search must go on",
        )


@dataclass(frozen=True, slots=True)
class AuthorizationInput:
    reference: str
    purpose: str
    legal_basis: str
    authority: str
    expires_at: datetime
    valid_from: datetime | None = None
    cameras: tuple[str, ...] | None = None  # None = all cameras

    def validated(self) -> AuthorizationInput:
        if not self.reference.strip():
            raise InputError(
                "the authorization reference is empty", hint="give the order's reference number"
            )
        if self.purpose not in Purpose.__members__:
            raise InputError(
                f"purpose {self.purpose!r} is not allowed",
                hint="use one of: " + ", ".join(Purpose.__members__),
            )
        for name, value in (("legal basis", self.legal_basis), ("authority", self.authority)):
            if not value.strip():
                raise InputError(
                    f"the {name} is empty", hint=f"state the {name} of this authorization"
                )
        start = self.valid_from or utcnow()
        if self.expires_at <= start:
            raise InputError(
                "expiry must be after the start of validity", hint="check --expires/--valid-from"
            )
        if self.cameras is not None and not self.cameras:
            raise InputError(
                "the camera scope is empty", hint="omit --cameras to cover all cameras"
            )
        return self


class AuthorizationService:
    def __init__(self, db: Database, bus: AlertBus | None = None) -> None:
        self.db = db
        self.bus = bus  # announces a 'purged' event per alert deleted by revoke/refuse

    def create(self, data: AuthorizationInput, *, actor: str) -> Authorization:
        data = data.validated()
        with self.db.write() as s:
            auth = AuthorizationRepo(s).add(
                Authorization(
                    reference=data.reference.strip(),
                    purpose=Purpose(data.purpose),
                    legal_basis=data.legal_basis.strip(),
                    authority=data.authority.strip(),
                    valid_from=data.valid_from or utcnow(),
                    expires_at=data.expires_at,
                    cameras=list(data.cameras) if data.cameras else None,
                    status=AuthorizationStatus.active,
                    created_by=actor,
                )
            )
            audit.record(
                s,
                actor=actor,
                action="authorization.create",
                target=auth.reference,
                details={
                    "purpose": data.purpose,
                    "expires_at": data.expires_at,
                    "cameras": data.cameras,
                    "authority": auth.authority,
                },
            )
            return auth

    def list(self) -> Sequence[Authorization]:
        with self.db.read() as s:
            return AuthorizationRepo(s).list()

    def get(self, reference: str) -> Authorization:
        with self.db.read() as s:
            return AuthorizationRepo(s).get(reference)

    def get_by_id(self, auth_id: int) -> Authorization:
        with self.db.read() as s:
            return AuthorizationRepo(s).get_by_id(auth_id)

    def end_by_id(self, auth_id: int, status: AuthorizationStatus, *, actor: str) -> dict[str, int]:
        """:meth:`end` for the authorization with this id."""
        return self.end(self.get_by_id(auth_id).reference, status, actor=actor)

    def end(self, reference: str, status: AuthorizationStatus, *, actor: str) -> dict[str, int]:
        """Revoke or refuse: purge every template, subject and alert found under it, at once."""
        if status is AuthorizationStatus.active:
            raise InputError("use revoke or refuse to end an authorization")
        events = StagedEvents(self.bus)  # one 'purged' per alert, relayed with the purge
        with self.db.write() as s:
            auth = AuthorizationRepo(s).get(reference)
            if auth.status is not AuthorizationStatus.active:
                raise Conflict(f"authorization {reference!r} is already {auth.status.value}")
            alert_ids = AlertRepo(s).ids_for_authorization(auth.id)
            purged = {
                "alerts": AlertRepo(s).delete_for_authorization(auth.id),
                "templates": 0,
                "subjects": 0,
            }
            subjects = SubjectRepo(s)
            for wl_id in [wl.id for wl in WatchlistRepo(s).for_authorization(auth.id)]:
                counts = subjects.delete_for_watchlist(wl_id)
                for kind in ("templates", "subjects", "alerts"):
                    purged[kind] += counts[kind]
            auth.status = status
            auth.status_changed_at = utcnow()
            audit.record(
                s,
                actor=actor,
                action=f"authorization.{status.value}",
                target=reference,
                details={"purged": purged},
            )
            for alert_id in alert_ids:
                events.add(s, AlertEvent.purged(alert_id, utcnow()))
        # Deleted cells are zeroed (secure_delete); also drop the WAL's older copies of them.
        scrub(self.db)
        events.deliver()
        return purged
