"""The audit chain detects modification, deletion, insertion and reordering, naming the record."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta

import pytest

from vigil.accountability import audit
from vigil.accountability.chain import verify_chain
from vigil.accountability.signing import Signer, load_or_create_signer
from vigil.db.models import AuditEvent
from vigil.db.session import Database
from vigil.timeutil import utcnow


def _fill(db: Database, n: int, start: int = 0) -> None:
    with db.write() as s:
        for i in range(start, start + n):
            audit.record(s, actor="tester", action="test.event", target=f"t{i}", details={"i": i})


def _hash_for(conn: sqlite3.Connection, event_id: int, prev: str) -> tuple[str, tuple]:
    """Recompute a record's hash the way an informed attacker would."""
    ts, actor, action, target, details = conn.execute(
        "SELECT ts, actor, action, target, details FROM audit_events WHERE id=?", (event_id,)
    ).fetchone()
    return _forge(event_id, ts, actor, action, target, json.loads(details), prev), (ts, actor)


def _forge(event_id, ts, actor, action, target, details, prev) -> str:
    from datetime import UTC, datetime

    when = datetime.fromisoformat(ts).replace(tzinfo=UTC)
    data = audit.canonical(event_id, when, actor, action, target, details, prev)
    return hashlib.sha256(data).hexdigest()


def _hash_of(conn: sqlite3.Connection, event_id: int) -> str:
    return conn.execute("SELECT hash FROM audit_events WHERE id=?", (event_id,)).fetchone()[0]


def modify(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit_events SET details='{"i": 999}' WHERE id=5""")


def modify_and_rehash(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit_events SET target='forged' WHERE id=5""")
    new, _ = _hash_for(conn, 5, _hash_of(conn, 4))
    conn.execute("UPDATE audit_events SET hash=? WHERE id=5", (new,))


def delete(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_events WHERE id=5")


def delete_and_renumber(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_events WHERE id=5")
    conn.execute("UPDATE audit_events SET id=id+1000 WHERE id>5")
    conn.execute("UPDATE audit_events SET id=id-1001 WHERE id>1000")


def _shift_up_from_5(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_events SET id=id+1000 WHERE id>=5")
    conn.execute("UPDATE audit_events SET id=id-999 WHERE id>=1005")


def insert_valid(conn: sqlite3.Connection) -> None:
    prev = _hash_of(conn, 4)
    _shift_up_from_5(conn)
    ts = "2026-01-01 00:00:00.000000"
    forged = _forge(5, ts, "intruder", "test.event", "x", {}, prev)
    conn.execute(
        "INSERT INTO audit_events (id, ts, actor, action, target, details, prev_hash, hash) "
        "VALUES (5, ?, 'intruder', 'test.event', 'x', '{}', ?, ?)",
        (ts, prev, forged),
    )


def insert_garbage(conn: sqlite3.Connection) -> None:
    _shift_up_from_5(conn)
    conn.execute(
        "INSERT INTO audit_events (id, ts, actor, action, target, details, prev_hash, hash) "
        "VALUES (5, '2026-01-01 00:00:00.000000', 'intruder', 'x', 'x', '{}', ?, ?)",
        ("1" * 64, "2" * 64),
    )


def reorder(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_events SET id=1000 WHERE id=5")
    conn.execute("UPDATE audit_events SET id=5 WHERE id=6")
    conn.execute("UPDATE audit_events SET id=6 WHERE id=1000")


def reorder_later(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_events SET id=1000 WHERE id=8")
    conn.execute("UPDATE audit_events SET id=8 WHERE id=9")
    conn.execute("UPDATE audit_events SET id=9 WHERE id=1000")


def delete_prefix(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_events WHERE id<=3")


def delete_tail(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_events WHERE id>=9")


def rewrite_from_5(conn: sqlite3.Connection) -> None:
    """Change record 5 and recompute every later hash: only the signed head catches this."""
    conn.execute("""UPDATE audit_events SET target='forged' WHERE id=5""")
    prev = _hash_of(conn, 4)
    for event_id in range(5, 11):
        new, _ = _hash_for(conn, event_id, prev)
        conn.execute(
            "UPDATE audit_events SET prev_hash=?, hash=? WHERE id=?", (prev, new, event_id)
        )
        prev = new


def edit_signature(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_signatures SET head_hash=? WHERE event_id=4", ("f" * 64,))


TAMPERING: list[tuple[str, Callable[[sqlite3.Connection], None], str, int]] = [
    ("modify", modify, "modified", 5),
    ("modify_and_rehash", modify_and_rehash, "modified", 5),
    ("delete", delete, "deleted", 5),
    ("delete_and_renumber", delete_and_renumber, "deleted", 5),
    ("insert_valid", insert_valid, "inserted", 5),
    ("insert_garbage", insert_garbage, "inserted", 5),
    ("reorder", reorder, "reordered", 5),
    ("reorder_later", reorder_later, "reordered", 8),
    ("delete_prefix", delete_prefix, "deleted", 1),
    ("delete_tail", delete_tail, "deleted", 9),
    ("rewrite_from_5", rewrite_from_5, "modified", 5),
    ("edit_signature", edit_signature, "signature", 4),
]


@pytest.fixture()
def chain(db: Database, signer: Signer) -> Database:
    """Ten records; the head is signed at record 4 and at record 10."""
    _fill(db, 4)
    audit.sign_head(db, signer)
    _fill(db, 6, start=4)
    audit.sign_head(db, signer)
    return db


def test_intact_chain_verifies(chain: Database, signer: Signer) -> None:
    report = verify_chain(chain, signer, batch=3)
    assert report.ok, report.problem
    assert (report.records, report.first_id, report.last_id) == (10, 1, 10)
    assert report.signed_through == 10
    assert report.signatures == 2


@pytest.mark.parametrize(
    ("name", "tamper", "kind", "event_id"), TAMPERING, ids=[t[0] for t in TAMPERING]
)
@pytest.mark.sqlite_only  # tampers through a raw sqlite3 connection
def test_tampering_is_detected_and_named(
    chain: Database,
    signer: Signer,
    raw: sqlite3.Connection,
    name: str,
    tamper: Callable[[sqlite3.Connection], None],
    kind: str,
    event_id: int,
) -> None:
    assert verify_chain(chain, signer).ok
    tamper(raw)
    raw.commit()
    report = verify_chain(chain, signer, batch=4)
    assert not report.ok, f"{name} went undetected"
    assert report.problem is not None
    assert (report.problem.kind, report.problem.event_id) == (kind, event_id), (
        report.problem.message
    )


def test_another_signing_key_fails(chain: Database, tmp_path) -> None:
    other = load_or_create_signer(tmp_path / "other.key")
    report = verify_chain(chain, other)
    assert report.problem is not None and report.problem.kind == "signature"


def test_empty_log_is_intact(db: Database, signer: Signer) -> None:
    report = verify_chain(db, signer)
    assert report.ok and report.records == 0
    assert audit.sign_head(db, signer) is None


def test_sign_head_is_idempotent(chain: Database, signer: Signer) -> None:
    assert audit.sign_head(chain, signer) is None
    _fill(chain, 1, start=10)
    assert audit.sign_head(chain, signer) is not None


def test_pruned_prefix_with_anchor_still_verifies(chain: Database, signer: Signer) -> None:
    with chain.write() as s:
        # Age the first six records beyond the cutoff.
        for event in s.query(AuditEvent).filter(AuditEvent.id <= 6):
            event.ts = utcnow() - timedelta(days=400)
            event.hash = audit.record_hash(event)
    with chain.write() as s:  # re-link after the re-dating above (test set-up, not tampering)
        prev = audit.GENESIS
        for event in s.query(AuditEvent).order_by(AuditEvent.id):
            event.prev_hash = prev
            event.hash = audit.record_hash(event)
            prev = event.hash
        s.query(audit.AuditSignature).delete()
    audit.sign_head(chain, signer)
    with chain.write() as s:
        assert audit.prune_before(s, signer, utcnow() - timedelta(days=183)) == 6
    _fill(chain, 2, start=100)
    report = verify_chain(chain, signer)
    assert report.ok, report.problem
    assert (report.first_id, report.last_id, report.records) == (7, 12, 6)


def test_prune_never_removes_the_newest_record(chain: Database, signer: Signer) -> None:
    with chain.write() as s:
        assert audit.prune_before(s, signer, utcnow() + timedelta(days=1)) == 9
    _fill(chain, 1, start=50)
    report = verify_chain(chain, signer)
    assert report.ok, report.problem
    assert (report.first_id, report.last_id) == (10, 11)
