"""Users, logins with a growing per-account delay, and API tokens. Each change is audited.

A password change, a password reset, a role change and deactivation end the user's login
sessions in the same transaction (in every server process: sessions live in the database).

No default password exists anywhere: :func:`create_user` generates a one-time password with
``secrets`` unless one is given, and the user must change a generated password at first login.

Credentials belong to one person (the two-person rule depends on it, see
:mod:`vigil.services.reviews`):

* API tokens are minted by their owner only (:meth:`UserService.create_token` refuses anyone
  else with :class:`~vigil.errors.PermissionDenied`); administrators may list and revoke them.
* A one-time password (user creation, reset) admits only the password change: every other route
  and every credential of that user (tokens included) is refused until it is changed.
* A password change (unless ``keep_tokens`` is asked for explicitly), a reset and a reactivation
  revoke the user's API tokens in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.config import ServerConfig
from vigil.db.models import ApiToken, User
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.errors import AuthenticationFailed, Conflict, InputError, NotFound, PermissionDenied
from vigil.repositories.throttle import ThrottleRepo
from vigil.repositories.users import TokenRepo, UserRepo
from vigil.services.credential_cache import CredentialCache
from vigil.services.credentials import (
    generate_api_token,
    generate_password,
    hash_api_token,
    hash_password,
    verify_password,
)
from vigil.services.maintainers import (
    account_usable,
    approve_maintainer,
    check_creator,
    check_validity,
    login_refusal,
    pending_maintainers,
)
from vigil.services.password_policy import check_password
from vigil.services.sessions import end_user_sessions
from vigil.services.throttle import ACCOUNT_SCOPE, AccountDelay, account_key
from vigil.timeutil import utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
TOKEN_USE_RESOLUTION = timedelta(seconds=60)  # how precisely a token's last use is recorded


@dataclass(frozen=True, slots=True)
class TokenLogin:
    """Who an API token authenticates, and which token it was (named in the audit)."""

    user: User
    token_id: int


def revoke_user_tokens(s: Session, user: User) -> int:
    """Delete every API token of ``user`` in the caller's transaction; returns how many."""
    return TokenRepo(s).delete_for_user(user.id)


LOGIN_FAILED = "wrong username or password, or too many recent failed logins for this account"


def check_username(username: str) -> str:
    name = username.strip()
    if not USERNAME_RE.match(name):
        raise InputError(
            f"username {username!r} is not allowed",
            hint="use 3-64 characters: letters, digits, '.', '_', '-', '@'",
        )
    return name


def create_user(
    db: Database,
    username: str,
    role: Role | str,
    password: str | None = None,
    *,
    actor: str = "system",
) -> tuple[User, str]:
    """Create a user; returns it with its password (generated, one-time, when none is given).

    Maintenance accounts are made by :func:`create_maintainer` (they need an expiry)."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise InputError(
            f"unknown role {role!r}", hint="use one of: " + ", ".join(r.value for r in Role)
        ) from exc
    if role is Role.maintainer:
        raise InputError(
            "a maintenance account needs an expiry and a second person's approval",
            hint="create it with POST /api/users/maintainers (at most 72 hours)",
        )
    return new_user(db, username, role, password, actor=actor)


def create_maintainer(
    db: Database,
    username: str,
    valid_for: timedelta,
    *,
    actor: str,
    password: str | None = None,
) -> tuple[User, str]:
    """A maintenance account expiring ``valid_for`` (<= 72 h) from now; it cannot log in until
    another admin or a supervisor approves it (see :mod:`vigil.services.maintainers`)."""
    check_validity(valid_for)
    with db.read() as s:
        check_creator(s, actor)
    expires = utcnow() + valid_for
    return new_user(db, username, Role.maintainer, password, actor=actor, expires_at=expires)


def new_user(
    db: Database,
    username: str,
    role: Role,
    password: str | None,
    *,
    actor: str,
    expires_at: datetime | None = None,
) -> tuple[User, str]:
    """Insert a user of a checked role (audited); see :func:`create_user`."""
    name = check_username(username)
    secret = check_password(password) if password is not None else generate_password()
    digest = hash_password(secret)  # slow on purpose: outside the single-writer lock
    with db.write() as s:
        if UserRepo(s).by_name(name) is not None:
            raise Conflict(f"user {name!r} already exists", hint="choose another username")
        user = User(
            username=name,
            password_hash=digest,
            role=role,
            active=True,
            must_change_password=password is None,
            failed_logins=0,
            created_by=actor if expires_at is not None else None,
            expires_at=expires_at,
        )
        UserRepo(s).add(user)
        details: dict[str, object] = {"role": role.value}
        if expires_at is not None:
            details["expires_at"] = expires_at.isoformat()
        audit.record(s, actor=actor, action="user.create", target=name, details=details)
        return user, secret


class UserService:
    def __init__(
        self,
        db: Database,
        config: ServerConfig,
        credentials: CredentialCache[Any] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        # forgotten after every change below that a cached principal could outlive
        self.credentials = credentials if credentials is not None else CredentialCache(0)
        self.delay = AccountDelay(
            db,
            free_failures=config.login_max_failures,
            base=min(config.login_delay_seconds, config.login_max_delay_seconds),
            cap=config.login_max_delay_seconds,
        )

    # -- logins -----------------------------------------------------------------------------
    def login(self, username: str, password: str, *, client: str) -> User:
        """Check credentials after the account's delay (see :class:`AccountDelay`); audit both
        ways. Unknown, inactive, throttled and wrong-password attempts get one same answer."""
        name = username.strip()
        wait = self.delay.admit(name)
        user: User | None = None
        ok = False
        if wait <= 0:  # a throttled attempt is not even checked
            with self.db.read() as s:
                user = UserRepo(s).by_name(name)
            ok = verify_password(user.password_hash if user else None, password)
        with self.db.write() as s:
            row = UserRepo(s).find(user.id) if user else None
            refusal = login_refusal(row) if row is not None and ok else None
            if row is None or not row.active or not ok or refusal:
                reason = f"throttled for {wait:.0f} s more" if wait > 0 else "wrong credentials"
                reason = refusal or reason  # audited; the caller gets the same answer as ever
                audit.record(
                    s,
                    actor=name[:128] or "?",
                    action="user.login_failed",
                    target=name[:256],
                    details={"client": client, "reason": reason},
                )
                problem = self._login_failed()
            else:
                ThrottleRepo(s).delete_key(ACCOUNT_SCOPE, account_key(name))
                audit.record(
                    s,
                    actor=row.username,
                    action="user.login",
                    target=row.username,
                    details={"client": client},
                )
                return row
        raise problem

    def _login_failed(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            LOGIN_FAILED,
            hint="check both; after repeated failures each new attempt must wait longer, up to "
            f"{self.delay.cap:.0f} s, before it is checked",
        )

    def logout(self, username: str, *, client: str) -> None:
        with self.db.write() as s:
            audit.record(
                s, actor=username, action="user.logout", target=username, details={"client": client}
            )

    def change_password(
        self, user_id: int, current: str, new: str, *, keep_tokens: bool = False
    ) -> None:
        """Change one's own password; ends every session and revokes the API tokens unless
        ``keep_tokens`` (an explicit choice, recorded in the audit). Refuses a weak new password
        (see :mod:`vigil.services.password_policy`) and the current one again."""
        with self.db.read() as s:
            user = UserRepo(s).get(user_id)
        check_password(new, user.username)
        if not verify_password(user.password_hash, current):
            raise PermissionDenied(
                "the current password is wrong", hint="type your current password"
            )
        if verify_password(user.password_hash, new):
            raise InputError(
                "the new password is the same as the current one", hint="choose a new one"
            )
        digest = hash_password(new)
        with self.credentials.changing(), self.db.write() as s:
            row = UserRepo(s).get(user_id)
            row.password_hash = digest
            row.must_change_password = False
            end_user_sessions(s, row.id)  # every session, in every process (web makes a new one)
            revoked = 0 if keep_tokens else revoke_user_tokens(s, row)
            audit.record(
                s,
                actor=row.username,
                action="user.password_change",
                target=row.username,
                details={"tokens_revoked": revoked, "tokens_kept": keep_tokens},
            )

    # -- administration ---------------------------------------------------------------------
    def create(self, username: str, role: Role, *, actor: str) -> tuple[User, str]:
        """A new user with a generated one-time password (see :func:`create_user`)."""
        return create_user(self.db, username, role, actor=actor)

    def create_maintainer(
        self, username: str, valid_for: timedelta, *, actor: str
    ) -> tuple[User, str]:
        """A maintenance account (see :func:`create_maintainer`)."""
        return create_maintainer(self.db, username, valid_for, actor=actor)

    def approve_maintainer(self, user_id: int, *, actor: str) -> User:
        """A second person's approval (see :mod:`vigil.services.maintainers`)."""
        return approve_maintainer(self.db, user_id, actor=actor)

    def pending_maintainers(self) -> Sequence[User]:
        """Maintenance accounts waiting for approval (see :mod:`vigil.services.maintainers`)."""
        return pending_maintainers(self.db)

    def list(self) -> Sequence[User]:
        with self.db.read() as s:
            return UserRepo(s).list()

    def get(self, user_id: int) -> User:
        with self.db.read() as s:
            return UserRepo(s).get(user_id)

    def update(self, user_id: int, *, role: Role | None, active: bool | None, actor: str) -> User:
        with self.credentials.changing(), self.db.write() as s:
            user = UserRepo(s).get(user_id)
            changes: dict[str, object] = {}
            if role is not None and role is not user.role:
                if Role.maintainer in (role, user.role):
                    raise InputError(
                        "no account becomes, or stops being, a maintenance account",
                        hint="create a maintenance account with POST /api/users/maintainers",
                    )
                changes["role"] = [user.role.value, role.value]
                user.role = role
            if active is not None and active != user.active:
                changes["active"] = [user.active, active]
                user.active = active
                if active:  # a reactivated user starts without the tokens of before
                    changes["tokens_revoked"] = revoke_user_tokens(s, user)
            s.flush()
            if changes and UserRepo(s).active_admins() == 0:
                raise Conflict(
                    "this change would leave no active administrator",
                    hint="make another user admin first",
                )
            if changes:
                end_user_sessions(s, user.id)  # the new role or deactivation applies at once
                audit.record(
                    s, actor=actor, action="user.update", target=user.username, details=changes
                )
            return user

    def reset_password(self, user_id: int, *, actor: str) -> tuple[User, str]:
        """A new one-time password; also clears the account's login delay and revokes the
        user's API tokens.

        The user can do nothing but change it (nor review: :mod:`vigil.services.reviews`)."""
        secret = generate_password()
        digest = hash_password(secret)
        with self.credentials.changing(), self.db.write() as s:
            user = UserRepo(s).get(user_id)
            user.password_hash = digest
            user.must_change_password = True
            ThrottleRepo(s).delete_key(ACCOUNT_SCOPE, account_key(user.username))
            end_user_sessions(s, user.id)
            revoked = revoke_user_tokens(s, user)
            audit.record(
                s,
                actor=actor,
                action="user.password_reset",
                target=user.username,
                details={"tokens_revoked": revoked},
            )
            return user, secret

    # -- API tokens -------------------------------------------------------------------------
    def create_token(self, user_id: int, name: str, *, actor: str) -> tuple[ApiToken, str]:
        """A new API token for ``user_id``, who must be ``actor``: nobody mints a credential for
        someone else (it would let one person act, and review, as two)."""
        if not name.strip():
            raise InputError(
                "the token name is empty", hint="name the machine or system that will use it"
            )
        token = generate_api_token()
        with self.db.write() as s:
            user = UserRepo(s).get(user_id)
            if user.username != actor:
                raise PermissionDenied(
                    f"{actor} may not create an API token for {user.username!r}: "
                    "tokens are created by their owner only",
                    hint=f"{user.username!r} logs in and creates it (POST /api/tokens)",
                )
            if not user.active:
                raise Conflict(
                    f"user {user.username!r} is deactivated", hint="activate the user first"
                )
            if user.must_change_password:
                raise PermissionDenied(
                    "you must change your one-time password first",
                    hint="use POST /api/auth/password",
                )
            row = ApiToken(user_id=user.id, name=name.strip(), token_hash=hash_api_token(token))
            TokenRepo(s).add(row)
            audit.record(
                s,
                actor=actor,
                action="token.create",
                target=user.username,
                details={"token_id": row.id, "name": row.name},
            )
            return row, token

    def list_tokens(self, owner_id: int | None = None) -> Sequence[tuple[ApiToken, str]]:
        """Every token with its owner's name, or only ``owner_id``'s."""
        with self.db.read() as s:
            return TokenRepo(s).with_owners(owner_id)

    def revoke_token(self, token_id: int, *, actor: str, owner_id: int | None = None) -> None:
        """Revoke a token; with ``owner_id``, only one of that user's (others are 'not found')."""
        with self.credentials.changing(), self.db.write() as s:
            row = TokenRepo(s).get(token_id)
            if owner_id is not None and row.user_id != owner_id:
                raise NotFound(
                    f"you have no API token with id {token_id}", hint="see GET /api/tokens"
                )
            owner = UserRepo(s).get(row.user_id).username
            TokenRepo(s).delete(row)
            audit.record(
                s,
                actor=actor,
                action="token.revoke",
                target=owner,
                details={"token_id": token_id, "name": row.name},
            )

    def user_for_token(self, token: str) -> User | None:
        """The active user an API token belongs to (and note its use), or None."""
        found = self.token_login(token)
        return found.user if found else None

    def token_login(self, token: str) -> TokenLogin | None:
        """The active user an API token belongs to and the token's id (its use noted), or None."""
        digest = hash_api_token(token)
        with self.db.read() as s:
            row = TokenRepo(s).by_hash(digest)
            if row is None:
                return None
            user = UserRepo(s).find(row.user_id)
            if user is None or not account_usable(user):  # a maintainer's token ends at expiry
                return None
            token_id, last_used = row.id, row.last_used_at
        now = utcnow()
        if last_used is None or now - last_used > TOKEN_USE_RESOLUTION:  # spare the writer lock
            with self.db.write() as s:
                found = TokenRepo(s).find(token_id)
                if found is not None:
                    found.last_used_at = now
        return TokenLogin(user, token_id)
