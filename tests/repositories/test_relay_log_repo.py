"""The relay log: appended in order, read after an id, pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.db.session import Database
from vigil.repositories.relay_log import RelayLogRepo

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _append(db: Database, alert_id: int, now: datetime) -> int:
    with db.write() as s:
        return RelayLogRepo(s).append(
            origin="a", alert_id=alert_id, kind="candidate", at=now, now=now
        )


def test_rows_are_read_after_an_id_in_order_and_pruned_by_age(db: Database) -> None:
    with db.read() as s:
        assert RelayLogRepo(s).last_id() == 0
    ids = [_append(db, n, T0 + timedelta(minutes=n)) for n in (1, 2, 3)]
    assert ids == sorted(ids)
    with db.read() as s:
        repo = RelayLogRepo(s)
        assert repo.last_id() == ids[-1]
        assert [r.alert_id for r in repo.after(ids[0], 10)] == [2, 3]
        assert [r.alert_id for r in repo.after(0, 2)] == [1, 2]
    with db.write() as s:
        assert RelayLogRepo(s).prune(T0 + timedelta(minutes=2, seconds=30)) == 2
    with db.read() as s:
        assert [r.id for r in RelayLogRepo(s).after(0, 10)] == ids[2:]
    with db.write() as s:
        assert RelayLogRepo(s).prune(T0 + timedelta(days=1)) == 1
    assert _append(db, 4, T0) > ids[-1]  # an emptied log hands out no id twice
