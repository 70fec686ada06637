"""Maintenance accounts: a supplier's or integrator's engineer who may keep cameras running but
never see anyone.

* An administrator creates the account (:func:`vigil.services.users.create_maintainer`)
  with an expiry of at most :data:`MAX_VALIDITY` (72 h); a longer one is
  refused with :class:`~vigil.errors.InputError`.
* A second person approves it before it can log in: another administrator or a supervisor,
  never its creator (:class:`~vigil.errors.PermissionDenied`).
* A login before approval or after expiry gets the same answer as a wrong password (nothing is
  revealed) and is audited with the real reason (:func:`login_refusal`).
* At expiry every session and API token of the account stops working: the web layer checks
  :func:`account_usable` on every request (:mod:`vigil.web.deps`).

What the role may reach is declared by the web layer's role gates (camera status and restarts,
metrics, health, the server's redacted logs, the aggregate transparency report); crops, photos,
previews, alerts, subjects, watchlists and the audit log are refused to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.db.models import User
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.errors import Conflict, InputError, PermissionDenied
from vigil.repositories.users import UserRepo
from vigil.timeutil import utcnow

MAX_VALIDITY = timedelta(hours=72)
APPROVERS = frozenset({Role.admin, Role.supervisor})


def check_validity(valid_for: timedelta) -> timedelta:
    """The account's lifetime, refused when not positive or over 72 hours."""
    if valid_for <= timedelta(0):
        raise InputError(
            "a maintenance account needs a positive validity", hint="give 1 to 72 hours"
        )
    if valid_for > MAX_VALIDITY:
        hours = valid_for.total_seconds() / 3600
        raise InputError(
            f"a maintenance account may last at most 72 hours, not {hours:g}",
            hint="give 72 hours or less; create a new account (with a new approval) later",
        )
    return valid_for


def login_refusal(user: User, now: datetime | None = None) -> str | None:
    """Why a maintenance account may not log in now (for the audit), or None when it may."""
    if user.role is not Role.maintainer:
        return None
    now = now or utcnow()
    if user.approved_at is None:
        return "maintenance account not approved yet"
    if user.expires_at is None or user.expires_at <= now:
        return "maintenance account expired"
    return None


def account_usable(user: User, now: datetime | None = None) -> bool:
    """True unless ``user`` is deactivated or an unapproved or expired maintenance account."""
    return user.active and login_refusal(user, now) is None


def check_creator(s: Session, actor: str) -> None:
    """Only an active administrator creates maintenance accounts (the API's gate says the same;
    this holds for the CLI, which names the acting account with ``--by``)."""
    creator = UserRepo(s).by_name(actor)
    if creator is None or creator.role is not Role.admin or not creator.active:
        raise PermissionDenied(
            f"{actor} may not create maintenance accounts",
            hint="an active administrator creates them",
        )


def pending_maintainers(db: Database) -> Sequence[User]:
    """The maintenance accounts waiting for a second person's approval (not expired), oldest
    first: what a supervisor's dashboard lists."""
    with db.read() as s:
        return UserRepo(s).pending_maintainers(utcnow())


def approve_maintainer(db: Database, user_id: int, *, actor: str) -> User:
    """Approve a maintenance account; ``actor`` must be an admin or supervisor, not its creator."""
    with db.write() as s:
        repo = UserRepo(s)
        user = repo.get(user_id)
        approver = repo.by_name(actor)
        if user.role is not Role.maintainer:
            raise Conflict(
                f"user {user.username!r} is not a maintenance account",
                hint="only maintainer accounts need an approval",
            )
        if approver is None or approver.role not in APPROVERS or not approver.active:
            raise PermissionDenied(
                f"{actor} may not approve maintenance accounts",
                hint="an active administrator or supervisor approves them",
            )
        if actor == user.created_by:
            raise PermissionDenied(
                f"{actor} created {user.username!r} and may not also approve it",
                hint="a second administrator or a supervisor must approve it",
            )
        if user.approved_at is not None:
            raise Conflict(
                f"{user.username!r} was already approved by {user.approved_by}",
                hint="nothing to do",
            )
        now = utcnow()
        if user.expires_at is None or user.expires_at <= now:
            raise Conflict(
                f"{user.username!r} has expired", hint="create a new maintenance account"
            )
        user.approved_by, user.approved_at = actor, now
        audit.record(
            s,
            actor=actor,
            action="user.maintainer_approve",
            target=user.username,
            details={"expires_at": user.expires_at.isoformat()},
        )
        return user
