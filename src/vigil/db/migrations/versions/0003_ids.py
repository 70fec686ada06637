"""ids never reused; pseudonymous subject references in the audit

Revision ID: 0003_ids
Revises: 0002
Create Date: 2026-12-01 05:20:00

1. Ids (issue 13, Medium 5). On SQLite every table whose ids the audit names is rebuilt as
   AUTOINCREMENT (batch mode, ``recreate="always"``), keeping its rows; its ``sqlite_sequence``
   is set to the highest id it ever used: max(id), or higher where the audit names a bigger id
   (``alert:N``, ``subject:N``, ``retention_run:N`` targets of rows deleted before this
   migration). PostgreSQL's serial columns never reuse an id: nothing to do there.
   Foreign keys must be off while a parent table is rebuilt (SQLite's DROP TABLE would cascade
   into its children); :meth:`vigil.db.session.Database.migrate` turns them off, and this
   migration refuses to run with them on.
2. Pseudonyms (Medium 4). A ``subject_keys`` table gets one random key per living subject
   (stored unsealed here, where no data key is at hand, and sealed with the deployment's data key
   at the next start: :func:`vigil.accountability.pseudonyms.seal_pending_keys`). Every audit
   record that named a subject (``alert.candidate`` details, ``subject.enroll`` and
   ``subject.delete`` targets and their photo file names, ``biometric.view`` of ``subject:N``)
   is rewritten to carry the subject's reference instead; subjects already purged get a random
   reference whose key is never stored. The chain is then re-hashed from the first rewritten
   record on, and an ``audit.rechained`` record is appended stating the old head (id and hash),
   how many records were re-hashed, and the head signatures the rewrite superseded (moved out of
   ``audit_signatures`` into that record, where `vigil audit verify` still checks them).
   See :mod:`vigil.accountability.audit` for why the chain is re-hashed rather than redacted.

The hash and reference functions are copied here on purpose: a migration is a snapshot and must
not change when the application's code does (tests check the copies against the live ones).
"""

# No `from __future__ import annotations`: alembic loads this file outside sys.modules, where
# dataclasses cannot resolve string annotations.
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0003_ids"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tables whose ids the audit names, each with the audit target prefix that names its ids.
AUTOINCREMENT_TABLES: dict[str, str | None] = {
    "authorizations": None,
    "watchlists": None,
    "subjects": "subject",
    "templates": None,
    "cameras": None,
    "alerts": "alert",
    "reviews": None,
    "camera_sessions": None,
    "users": None,
    "api_tokens": None,
    "audit_signatures": None,
    "retention_runs": "retention_run",
    "login_sessions": None,
    "outbox": None,
}
GENESIS = "0" * 64
REF_PREFIX = "ps-"
BATCH = 2000
RECHAINED = "audit.rechained"

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("ts", vigil.db.models.UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_signatures = sa.table(
    "audit_signatures",
    sa.column("id", sa.Integer()),
    sa.column("event_id", sa.Integer()),
    sa.column("head_hash", sa.String()),
    sa.column("signature", sa.Text()),
)
_subject_keys = sa.table(
    "subject_keys",
    sa.column("subject_id", sa.Integer()),
    sa.column("key", sa.LargeBinary()),
    sa.column("encrypted", sa.Boolean()),
    sa.column("created_at", vigil.db.models.UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("created_at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subject_id"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _autoincrement(bind)
    _pseudonymise(bind)


def downgrade() -> None:
    # The names the upgrade removed from the audit are gone for good (that was its purpose);
    # AUTOINCREMENT tables work as before under 0002's code.
    op.drop_table("subject_keys")


# ---- 1. ids ---------------------------------------------------------------------------------
def _autoincrement(bind: sa.Connection) -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0003_ids rebuilds tables and needs SQLite's foreign keys off (with them on, "
            "rebuilding a table would delete its children's rows); run it with `vigil migrate`, "
            "which turns them off, or the alembic CLI; nothing was changed"
        )
    floors = _audit_floors(bind)
    for table in AUTOINCREMENT_TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        top = bind.execute(sa.text(f'SELECT max(id) FROM "{table}"')).scalar() or 0
        seq = max(top, floors.get(table, 0))
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        if seq:
            bind.execute(
                sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"),
                {"t": table, "s": seq},
            )
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"migration 0003_ids broke foreign keys: {problems[:5]}")


def _audit_floors(bind: sa.Connection) -> dict[str, int]:
    """Per table, the highest id the audit's targets name (``alert:41`` -> alerts: 41)."""
    floors: dict[str, int] = {}
    for table, prefix in AUTOINCREMENT_TABLES.items():
        if prefix is None:
            continue
        pattern = re.compile(rf"^{prefix}:(\d+)$")
        targets = bind.execute(
            sa.select(_events.c.target).where(_events.c.target.like(f"{prefix}:%"))
        ).scalars()
        ids = [int(m.group(1)) for t in targets if (m := pattern.match(t or ""))]
        if ids:
            floors[table] = max(ids)
    return floors


# ---- 2. pseudonyms --------------------------------------------------------------------------
def reference(key: bytes, subject_id: int) -> str:
    """Copy of vigil.accountability.pseudonyms.reference."""
    mac = hmac.new(key, f"vigil-subject:{subject_id}".encode(), hashlib.sha256).hexdigest()
    return REF_PREFIX + mac[:32]


def canonical(row: Mapping[str, Any], event_id: int, prev_hash: str) -> bytes:
    """Copy of vigil.accountability.audit.canonical."""
    body = {
        "id": event_id,
        "ts": row["ts"].isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "details": row["details"] or {},
        "prev": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _hash(row: Mapping[str, Any], event_id: int, prev_hash: str) -> str:
    return hashlib.sha256(canonical(row, event_id, prev_hash)).hexdigest()


@dataclass
class _Refs:
    """References by (watchlist, subject name) and by subject id; random ones for the purged."""

    by_name: dict[tuple[str, str], str] = field(default_factory=dict)
    by_id: dict[int, str] = field(default_factory=dict)
    watchlists: list[str] = field(default_factory=list)  # longest first

    def of_name(self, watchlist: str, name: str) -> str:
        return self.by_name.setdefault((watchlist, name), _random_ref())

    def of_id(self, subject_id: int) -> str:
        return self.by_id.setdefault(subject_id, _random_ref())

    def of_label(self, label: str) -> tuple[str, str]:
        """'watchlist/name' (as 0002 wrote targets) -> (watchlist, reference)."""
        for wl in self.watchlists:
            if label.startswith(wl + "/"):
                return wl, self.of_name(wl, label[len(wl) + 1 :])
        wl, _, name = label.partition("/")
        return wl, self.of_name(wl, name)


def _random_ref() -> str:
    return reference(os.urandom(32), 0)


def _make_keys(bind: sa.Connection) -> _Refs:
    refs = _Refs()
    rows = bind.execute(
        sa.text(
            "SELECT s.id, s.name, w.name FROM subjects s JOIN watchlists w ON w.id = s.watchlist_id"
        )
    ).all()
    now = datetime.now(UTC)
    for subject_id, name, watchlist in rows:
        key = os.urandom(32)
        bind.execute(
            _subject_keys.insert().values(
                subject_id=subject_id, key=key, encrypted=False, created_at=now
            )
        )
        ref = reference(key, subject_id)
        refs.by_name[(watchlist, name)] = refs.by_id[subject_id] = ref
    names = bind.execute(sa.text("SELECT name FROM watchlists")).scalars()
    refs.watchlists = sorted(names, key=len, reverse=True)
    return refs


def _rewrite(row: Mapping[str, Any], refs: _Refs) -> tuple[str, dict[str, Any]] | None:
    """The record's new (target, details), or None when it names no subject."""
    action, target = row["action"], row["target"] or ""
    details = dict(row["details"] or {})
    if action == "alert.candidate" and isinstance(details.get("subject"), str):
        if details["subject"].startswith(REF_PREFIX):
            return None
        details["subject"] = refs.of_name(str(details.get("watchlist", "")), details["subject"])
        return target, details
    if action in ("subject.enroll", "subject.delete") and not target.startswith("subject:"):
        watchlist, ref = refs.of_label(target)
        details["watchlist"] = watchlist
        if isinstance(details.get("photos"), list):
            details["photos"] = len(details["photos"])  # file names may name the person
        return f"subject:{ref}", details
    match = re.fullmatch(r"subject:(\d+)", target)
    if match:
        return f"subject:{refs.of_id(int(match.group(1)))}", details
    return None


def _pages(bind: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    after = -1
    while True:
        rows = bind.execute(
            sa.select(_events).where(_events.c.id > after).order_by(_events.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        yield [dict(r._mapping) for r in rows]
        after = rows[-1].id


@dataclass
class _Rechain:
    first: int | None = None  # the first record rewritten
    rewritten: int = 0
    rehashed: int = 0
    prev: str = ""  # the new hash of the last record seen
    old_head: tuple[int, str] | None = None
    broken: list[int] = field(default_factory=list)  # records that failed their check before


def _pseudonymise(bind: sa.Connection) -> None:
    refs = _make_keys(bind)
    state = _Rechain()
    for page in _pages(bind):
        for row in page:
            _step(bind, row, refs, state)
    if state.first is None or state.old_head is None:
        return
    _append_rechained(bind, state)


def _step(bind: sa.Connection, row: dict[str, Any], refs: _Refs, state: _Rechain) -> None:
    """Rewrite one record if it names a subject; re-hash it once the chain has changed.

    Each record is checked first (its hash, its link to the one before): re-hashing must not
    hide an earlier break, so a broken record is named in the re-chaining record."""
    old_prev = state.old_head[1] if state.old_head else None
    intact = _hash(row, row["id"], row["prev_hash"]) == row["hash"]
    if not intact or (old_prev is not None and row["prev_hash"] != old_prev):
        state.broken.append(row["id"])
    state.old_head = (row["id"], row["hash"])
    new = _rewrite(row, refs)
    if new is not None:
        row["target"], row["details"] = new
        state.rewritten += 1
        if state.first is None:
            state.first = row["id"]
    if state.first is None:
        state.prev = row["hash"]
        return
    prev = row["prev_hash"] if state.first == row["id"] else state.prev
    digest = _hash(row, row["id"], prev)
    bind.execute(
        _events.update()
        .where(_events.c.id == row["id"])
        .values(target=row["target"], details=row["details"], prev_hash=prev, hash=digest)
    )
    state.rehashed += 1
    state.prev = digest


def _append_rechained(bind: sa.Connection, state: _Rechain) -> None:
    assert state.first is not None and state.old_head is not None
    superseded = bind.execute(
        sa.select(_signatures)
        .where(_signatures.c.event_id >= state.first, _signatures.c.signature.like("head:%"))
        .order_by(_signatures.c.id)
    ).all()
    bind.execute(_signatures.delete().where(_signatures.c.id.in_([s.id for s in superseded])))
    head_id, head_hash = state.old_head
    row = {
        "ts": datetime.now(UTC),
        "actor": "system",
        "action": RECHAINED,
        "target": "audit",
        "details": {
            "reason": "migration 0003: subject names replaced by pseudonymous references",
            "first_rewritten": state.first,
            "rewritten": state.rewritten,
            "rehashed": state.rehashed,
            "old_head": {"id": head_id, "hash": head_hash},
            # records that did not match their hash or link before the re-chaining (tampered)
            "broken_before": state.broken[:100],
            "superseded_heads": [
                {"event_id": s.event_id, "head_hash": s.head_hash, "signature": s.signature}
                for s in superseded
            ],
        },
    }
    new_id = head_id + 1
    bind.execute(
        _events.insert().values(
            id=new_id, prev_hash=state.prev, hash=_hash(row, new_id, state.prev), **row
        )
    )
