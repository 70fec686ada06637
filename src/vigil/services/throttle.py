"""Login throttling shared by every server process: per source address and per account.

* :class:`LoginThrottle` (scope ``client``): at most ``limit`` login attempts per client address
  per ``window`` seconds, a fixed-window counter; it slows down guessing across many usernames.
* :class:`AccountDelay` (scope ``account``): after ``free_failures`` consecutive failures for a
  username, each further attempt must wait a growing delay (``base``, doubling, at most ``cap``
  seconds) after the previous one before its password is even checked. There is no hard lock:
  the right password after the wait logs in, so nobody can lock someone else out for long.
  Unknown usernames are counted exactly like known ones, so the answers reveal nothing.

Counters live in the ``login_throttle`` table so several ``vigil serve`` processes on one
database share them; finished counters are deleted on every call and the table never holds more
than ``max_rows`` counters (the oldest go first), so it stays bounded whatever the traffic.
"""

from __future__ import annotations

from datetime import timedelta

from vigil.db.session import Database
from vigil.errors import AuthenticationFailed
from vigil.repositories.throttle import ThrottleRepo
from vigil.timeutil import utcnow

CLIENT_SCOPE = "client"
ACCOUNT_SCOPE = "account"
MAX_KEY = 256


class LoginThrottled(AuthenticationFailed):
    """Too many login attempts from one source address."""

    http_status = 429


def account_key(username: str) -> str:
    """The counter key of a username as typed (case-folded: logins ignore surrounding space)."""
    return username.strip().casefold()[:MAX_KEY]


class LoginThrottle:
    def __init__(
        self, db: Database, *, limit: int = 20, window: float = 60.0, max_rows: int = 10_000
    ) -> None:
        if limit < 1 or window <= 0 or max_rows < 1:
            raise ValueError(
                f"LoginThrottle: expected limit >= 1, window > 0 and max_rows >= 1, got "
                f"{limit}, {window} and {max_rows}"
            )
        self.db = db
        self.limit = limit
        self.window = timedelta(seconds=window)
        self.max_rows = max_rows

    def allow(self, client: str) -> bool:
        """Count one attempt from ``client``; False when it is over the limit in this window."""
        return self._hit(CLIENT_SCOPE, client[:MAX_KEY])

    def _hit(self, scope: str, key: str) -> bool:
        now = utcnow()
        with self.db.write() as s:
            repo = ThrottleRepo(s)
            repo.delete_before(now - self.window, scope=scope)
            repo.ensure(scope, key, now)
            row = repo.window(scope, key)
            assert row is not None  # just ensured, in this transaction
            if row.window_start <= now - self.window:  # a window has passed: start a new one
                row.window_start, row.hits = now, 0
            allowed = row.hits < self.limit
            if allowed:
                row.hits += 1
            s.flush()
            repo.delete_oldest(repo.count() - self.max_rows)
            return allowed


class AccountDelay:
    """A growing wait between login attempts for one username after repeated failures."""

    def __init__(
        self,
        db: Database,
        *,
        free_failures: int = 5,
        base: float = 1.0,
        cap: float = 60.0,
        forget_after: float = 3600.0,
        max_rows: int = 10_000,
    ) -> None:
        if free_failures < 1 or base <= 0 or cap < base or forget_after < cap or max_rows < 1:
            raise ValueError(
                "AccountDelay: expected free_failures >= 1, 0 < base <= cap <= forget_after and "
                f"max_rows >= 1, got {free_failures}, {base}, {cap}, {forget_after}, {max_rows}"
            )
        self.db = db
        self.free_failures = free_failures
        self.base = base
        self.cap = cap
        self.forget_after = timedelta(seconds=forget_after)
        self.max_rows = max_rows

    def delay_after(self, failures: int) -> float:
        """Seconds the next attempt must wait after ``failures`` consecutive failures."""
        if failures < self.free_failures:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - self.free_failures, 32)))

    def admit(self, username: str) -> float:
        """Begin one attempt: 0.0 when it may be checked (it is counted as a failure until
        :meth:`succeeded`), else the seconds still to wait (the attempt is not checked)."""
        key = account_key(username)
        now = utcnow()
        with self.db.write() as s:
            repo = ThrottleRepo(s)
            repo.delete_before(now - self.forget_after, scope=ACCOUNT_SCOPE)
            repo.ensure(ACCOUNT_SCOPE, key, now)
            row = repo.window(ACCOUNT_SCOPE, key)
            assert row is not None  # just ensured, in this transaction
            ready_at = row.window_start + timedelta(seconds=self.delay_after(row.hits))
            if row.hits and ready_at > now:
                return (ready_at - now).total_seconds()
            row.hits += 1
            row.window_start = now
            s.flush()
            repo.delete_oldest(repo.count() - self.max_rows)
            return 0.0

    def succeeded(self, username: str) -> None:
        """The attempt logged in: forget the account's failures."""
        with self.db.write() as s:
            ThrottleRepo(s).delete_key(ACCOUNT_SCOPE, account_key(username))
