"""Login-attempt counters per (scope, key), shared by all server processes.

A ``client`` counter counts attempts in a fixed window starting at ``window_start``; an
``account`` counter counts consecutive failures, ``window_start`` being the last failure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vigil.db.models import LoginThrottleWindow
from vigil.repositories._rows import rowcount


class ThrottleRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def window(self, scope: str, key: str) -> LoginThrottleWindow | None:
        """The counter row, locked for this transaction where the database can (FOR UPDATE)."""
        return self.s.scalar(
            select(LoginThrottleWindow)
            .where(LoginThrottleWindow.scope == scope, LoginThrottleWindow.key == key)
            .with_for_update()
        )

    def ensure(self, scope: str, key: str, now: datetime) -> None:
        """Create the counter (0 hits, window starting ``now``) unless another process did."""
        if self.s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(LoginThrottleWindow)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(LoginThrottleWindow)  # type: ignore[assignment]
        values = {"scope": scope, "key": key, "window_start": now, "hits": 0}
        self.s.execute(stmt.values(**values).on_conflict_do_nothing())

    def delete_before(self, cutoff: datetime, *, scope: str | None = None) -> int:
        """Drop counters (of ``scope``, or all) whose window started before ``cutoff``."""
        stmt = delete(LoginThrottleWindow).where(LoginThrottleWindow.window_start < cutoff)
        if scope is not None:
            stmt = stmt.where(LoginThrottleWindow.scope == scope)
        return rowcount(self.s.execute(stmt))

    def delete_key(self, scope: str, key: str) -> int:
        """Forget one counter (an account's failures after a successful login)."""
        return rowcount(
            self.s.execute(
                delete(LoginThrottleWindow).where(
                    LoginThrottleWindow.scope == scope, LoginThrottleWindow.key == key
                )
            )
        )

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(LoginThrottleWindow)) or 0)

    def delete_oldest(self, n: int) -> int:
        """Drop the ``n`` counters with the oldest windows (keeps the table bounded)."""
        if n <= 0:
            return 0
        oldest = self.s.execute(
            select(LoginThrottleWindow.scope, LoginThrottleWindow.key)
            .order_by(LoginThrottleWindow.window_start)
            .limit(n)
        ).all()
        return sum(self.delete_key(scope, key) for scope, key in oldest)
