"""Login throttling shared by every server process: a fixed-window counter per client address.

At most ``limit`` login attempts per client address per ``window`` seconds. This complements the
per-account lockout (:mod:`vigil.services.users`): it slows down guessing across many usernames.
Counters live in the ``login_throttle`` table so several ``vigil serve`` processes on one
database share them; counters of finished windows are deleted on every call and the table never
holds more than ``max_rows`` counters (the oldest go first), so it stays bounded whatever the
number of addresses. Each counter has a ``scope`` (``client`` here); a per-account scope, for a
growing delay per account, fits the same table.
"""

from __future__ import annotations

from datetime import timedelta

from vigil.db.session import Database
from vigil.repositories.throttle import ThrottleRepo
from vigil.timeutil import utcnow

CLIENT_SCOPE = "client"
MAX_KEY = 256


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
            repo.delete_before(now - self.window)
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
