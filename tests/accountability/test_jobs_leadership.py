"""The periodic jobs run in one process only: Leadership on both database backends."""

from __future__ import annotations

from vigil.accountability.jobs import AccountabilityJobs, Leadership
from vigil.config import Settings
from vigil.db.session import Database


def test_one_leader_at_a_time_and_another_takes_over(db: Database, settings: Settings) -> None:
    other = Database(settings.db_url)  # a second process's handle on the same database
    try:
        first, second = Leadership(db), Leadership(other)
        assert first.lead() is True
        assert second.lead() is False
        assert first.lead() is True  # still held
        first.release()
        assert second.lead() is True
        assert first.lead() is False
        second.release()
    finally:
        other.dispose()


def test_only_the_leaders_rounds_do_the_work(db: Database, settings: Settings) -> None:
    from sqlalchemy import text

    other = Database(settings.db_url)
    leader, follower = AccountabilityJobs(db, settings), AccountabilityJobs(other, settings)
    try:
        leader._round()
        follower._round()
        leader._round()
        with db.read() as s:
            runs = s.execute(text("SELECT count(*) FROM retention_runs")).scalar_one()
        assert runs == 1  # the leader's first round; its second was not due, the follower skipped
    finally:
        leader.stop()
        follower.stop()
        other.dispose()
