"""The login throttle on a real SQLite database: shared by processes, bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from vigil.db.models import LoginThrottleWindow
from vigil.db.session import Database
from vigil.services.throttle import LoginThrottle
from vigil.timeutil import utcnow


def _count(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(LoginThrottleWindow)) or 0)


def test_limit_per_client_in_a_window(db: Database) -> None:
    throttle = LoginThrottle(db, limit=2, window=3600)
    assert [throttle.allow("1.2.3.4") for _ in range(3)] == [True, True, False]
    assert throttle.allow("5.6.7.8")


def test_two_throttles_on_one_database_share_the_count(db: Database) -> None:
    a, b = LoginThrottle(db, limit=3, window=3600), LoginThrottle(db, limit=3, window=3600)
    assert [a.allow("9.9.9.9"), b.allow("9.9.9.9"), a.allow("9.9.9.9")] == [True, True, True]
    assert not b.allow("9.9.9.9")


def test_a_new_window_starts_counting_again(db: Database) -> None:
    throttle = LoginThrottle(db, limit=1, window=60)
    assert throttle.allow("1.1.1.1") and not throttle.allow("1.1.1.1")
    with db.write() as s:  # the window started 2 minutes ago
        s.execute(update(LoginThrottleWindow).values(window_start=utcnow() - timedelta(minutes=2)))
    assert throttle.allow("1.1.1.1")


def test_table_stays_bounded(db: Database) -> None:
    throttle = LoginThrottle(db, limit=5, window=3600, max_rows=10)
    for i in range(25):
        throttle.allow(f"10.0.0.{i}")
    assert _count(db) == 10
    with db.write() as s:  # all windows are over: the next call prunes them
        s.execute(update(LoginThrottleWindow).values(window_start=utcnow() - timedelta(hours=2)))
    throttle.allow("10.0.1.1")
    assert _count(db) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"limit": 0}, "limit"), ({"window": 0}, "window"), ({"max_rows": 0}, "max_rows")],
)
def test_bad_parameters_are_refused(db: Database, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoginThrottle(db, **kwargs)
