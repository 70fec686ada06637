"""Users, logins with a growing per-account delay, and API tokens. Each change is audited.

A password change, a password reset, a role change and deactivation end the user's login
sessions in the same transaction (in every server process: sessions live in the database).

No default password exists anywhere: :func:`create_user` generates a one-time password with
``secrets`` unless one is given, and the user must change a generated password at first login.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from vigil.accountability import audit
from vigil.config import ServerConfig
from vigil.db.models import ApiToken, User
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.errors import AuthenticationFailed, Conflict, InputError, PermissionDenied
from vigil.repositories.throttle import ThrottleRepo
from vigil.repositories.users import TokenRepo, UserRepo
from vigil.services.credentials import (
    generate_api_token,
    generate_password,
    hash_api_token,
    hash_password,
    verify_password,
)
from vigil.services.password_policy import check_password
from vigil.services.sessions import end_user_sessions
from vigil.services.throttle import ACCOUNT_SCOPE, AccountDelay, account_key
from vigil.timeutil import utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
TOKEN_USE_RESOLUTION = timedelta(seconds=60)  # how precisely a token's last use is recorded
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
    """Create a user; returns it with its password (generated, one-time, when none is given)."""
    name = check_username(username)
    try:
        role = Role(role)
    except ValueError as exc:
        raise InputError(
            f"unknown role {role!r}", hint="use one of: " + ", ".join(r.value for r in Role)
        ) from exc
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
        )
        UserRepo(s).add(user)
        audit.record(
            s, actor=actor, action="user.create", target=name, details={"role": role.value}
        )
        return user, secret


class UserService:
    def __init__(self, db: Database, config: ServerConfig) -> None:
        self.db = db
        self.config = config
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
            if row is None or not row.active or not ok:
                reason = f"throttled for {wait:.0f} s more" if wait > 0 else "wrong credentials"
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

    def change_password(self, user_id: int, current: str, new: str) -> None:
        """Refuses a weak new password (see :mod:`vigil.services.password_policy`) and the
        current one again."""
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
        with self.db.write() as s:
            row = UserRepo(s).get(user_id)
            row.password_hash = digest
            row.must_change_password = False
            end_user_sessions(s, row.id)  # every session, in every process (web makes a new one)
            audit.record(s, actor=row.username, action="user.password_change", target=row.username)

    # -- administration ---------------------------------------------------------------------
    def create(self, username: str, role: Role, *, actor: str) -> tuple[User, str]:
        """A new user with a generated one-time password (see :func:`create_user`)."""
        return create_user(self.db, username, role, actor=actor)

    def list(self) -> Sequence[User]:
        with self.db.read() as s:
            return UserRepo(s).list()

    def get(self, user_id: int) -> User:
        with self.db.read() as s:
            return UserRepo(s).get(user_id)

    def update(self, user_id: int, *, role: Role | None, active: bool | None, actor: str) -> User:
        with self.db.write() as s:
            user = UserRepo(s).get(user_id)
            changes: dict[str, object] = {}
            if role is not None and role is not user.role:
                changes["role"] = [user.role.value, role.value]
                user.role = role
            if active is not None and active != user.active:
                changes["active"] = [user.active, active]
                user.active = active
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
        """A new one-time password; also clears the account's login delay."""
        secret = generate_password()
        digest = hash_password(secret)
        with self.db.write() as s:
            user = UserRepo(s).get(user_id)
            user.password_hash = digest
            user.must_change_password = True
            ThrottleRepo(s).delete_key(ACCOUNT_SCOPE, account_key(user.username))
            end_user_sessions(s, user.id)
            audit.record(s, actor=actor, action="user.password_reset", target=user.username)
            return user, secret

    # -- API tokens -------------------------------------------------------------------------
    def create_token(self, user_id: int, name: str, *, actor: str) -> tuple[ApiToken, str]:
        if not name.strip():
            raise InputError(
                "the token name is empty", hint="name the machine or system that will use it"
            )
        token = generate_api_token()
        with self.db.write() as s:
            user = UserRepo(s).get(user_id)
            if not user.active:
                raise Conflict(
                    f"user {user.username!r} is deactivated", hint="activate the user first"
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

    def list_tokens(self) -> Sequence[tuple[ApiToken, str]]:
        with self.db.read() as s:
            return TokenRepo(s).with_owners()

    def revoke_token(self, token_id: int, *, actor: str) -> None:
        with self.db.write() as s:
            row = TokenRepo(s).get(token_id)
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
        digest = hash_api_token(token)
        with self.db.read() as s:
            row = TokenRepo(s).by_hash(digest)
            if row is None:
                return None
            user = UserRepo(s).find(row.user_id)
            if user is None or not user.active:
                return None
            token_id, last_used = row.id, row.last_used_at
        now = utcnow()
        if last_used is None or now - last_used > TOKEN_USE_RESOLUTION:  # spare the writer lock
            with self.db.write() as s:
                found = TokenRepo(s).find(token_id)
                if found is not None:
                    found.last_used_at = now
        return user
