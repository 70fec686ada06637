"""Verification of the audit chain: streams the whole log in batches, memory stays flat.

It checks that ids are consecutive, that every record's hash matches its content, that every
record links to the hash of the one before, that the first record links to the genesis value or
to a signed retention anchor, and that every head signature verifies and matches its record. At
the first break it names the record that was modified, deleted, inserted or reordered.

An ``audit.rechained`` record (written by migration 0003, which replaced subject names by
pseudonymous references, see :mod:`vigil.accountability.audit`) carries the head signatures the
rewrite superseded; each must still verify with the deployment's key over the (old) head it
names, and the report lists every re-chaining so an auditor sees it happened and where.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.accountability.audit import (
    ANCHOR,
    GENESIS,
    HEAD,
    RECHAINED,
    canonical,
    signed_message,
    split_signature,
)
from vigil.accountability.signing import PublicVerifier, Signer
from vigil.db.models import AuditSignature
from vigil.db.session import Database
from vigil.repositories.audit import AuditRepo

ProblemKind = Literal["modified", "deleted", "inserted", "reordered", "signature", "anchor"]
BATCH = 5000


@dataclass(frozen=True, slots=True)
class ChainProblem:
    kind: ProblemKind
    event_id: int  # the first record affected
    message: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    records: int
    first_id: int | None
    last_id: int | None
    signatures: int
    signed_through: int | None  # highest record id covered by a valid head signature
    problem: ChainProblem | None = None
    public_key: str = ""
    rechained: tuple[int, ...] = ()  # ids of ``audit.rechained`` records (see module docstring)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    content: tuple[Any, ...]  # ts, actor, action, target, details
    prev_hash: str
    hash: str

    def hash_as(self, event_id: int, prev: str | None = None) -> str:
        ts, actor, action, target, details = self.content
        data = canonical(event_id, ts, actor, action, target, details or {}, prev or self.prev_hash)
        return hashlib.sha256(data).hexdigest()


@dataclass
class _Sigs:
    by_event: dict[int, list[AuditSignature]] = field(default_factory=dict)
    count: int = 0


def _stream(db: Database, batch: int) -> Iterator[_Row]:
    after = -1
    while True:
        with db.read() as s:
            rows = AuditRepo(s).events_after(after, batch)
        if not rows:
            return
        for r in rows:
            yield _Row(r.id, (r.ts, r.actor, r.action, r.target, r.details), r.prev_hash, r.hash)
        after = rows[-1].id


def _load_signatures(db: Database) -> _Sigs:
    sigs = _Sigs()
    with db.read() as s:
        for row in AuditRepo(s).signatures():
            sigs.by_event.setdefault(row.event_id, []).append(row)
            sigs.count += 1
    return sigs


def _check_signatures(signer: Signer | PublicVerifier, sigs: _Sigs) -> ChainProblem | None:
    for event_id in sorted(sigs.by_event):
        for row in sigs.by_event[event_id]:
            kind, sig = split_signature(row.signature)
            if not kind or not signer.verify(
                signed_message(kind, row.event_id, row.head_hash), sig
            ):
                return ChainProblem(
                    "signature",
                    event_id,
                    f"the {kind or 'unknown'} signature #{row.id} over record {event_id} "
                    "does not verify "
                    "with this deployment's signing key (edited, or signed with another key)",
                )
    return None


def _start_problem(first: _Row, sigs: _Sigs) -> ChainProblem | None:
    if first.id == 1:
        if first.prev_hash != GENESIS:
            return ChainProblem("modified", 1, "record 1 does not start from the genesis value")
        return None
    anchors = [
        s for s in sigs.by_event.get(first.id - 1, []) if split_signature(s.signature)[0] == ANCHOR
    ]
    if any(a.head_hash == first.prev_hash for a in anchors):
        return None
    earlier = [
        eid
        for eid, rows in sigs.by_event.items()
        if eid < first.id - 1 and any(split_signature(r.signature)[0] == ANCHOR for r in rows)
    ]
    missing = (max(earlier) + 1) if earlier else 1
    return ChainProblem(
        "deleted",
        missing,
        f"records {missing}..{first.id - 1} are missing and no signed retention anchor covers them",
    )


def _diagnose(row: _Row, nxt: _Row | None, expected: int, prev_hash: str) -> ChainProblem | None:
    """The first break at ``row`` (which has id ``expected``): what happened and to which record."""
    if row.id != expected:
        return ChainProblem(
            "deleted", expected, f"record {expected} is missing (ids jump to {row.id})"
        )
    own_ok = row.hash_as(row.id) == row.hash
    if own_ok and row.prev_hash == prev_hash:
        return None
    next_holds_this = nxt is not None and nxt.hash_as(row.id) == nxt.hash
    if not own_ok:
        if row.hash_as(row.id + 1) == row.hash:
            if next_holds_this:
                return ChainProblem(
                    "reordered", row.id, f"records {row.id} and {row.id + 1} were swapped"
                )
            return ChainProblem(
                "deleted", row.id, f"record {row.id} was deleted and later ones renumbered"
            )
        if row.id > 1 and row.hash_as(row.id - 1) == row.hash:
            return ChainProblem(
                "inserted", row.id - 1, f"record {row.id - 1} was inserted into the chain"
            )
        if next_holds_this:
            return ChainProblem("inserted", row.id, f"record {row.id} was inserted into the chain")
        return ChainProblem(
            "modified", row.id, f"record {row.id} was modified (its hash does not match)"
        )
    if next_holds_this:
        return ChainProblem("inserted", row.id, f"record {row.id} was inserted into the chain")
    return ChainProblem(
        "modified",
        row.id - 1,
        f"record {row.id - 1} was modified (its hash was recomputed; "
        f"record {row.id} no longer links to it)",
    )


def _head_problem(row: _Row, sigs: _Sigs, last_good: int | None) -> ChainProblem | None:
    for sig in sigs.by_event.get(row.id, []):
        if split_signature(sig.signature)[0] == HEAD and sig.head_hash != row.hash:
            start = (last_good or 0) + 1
            return ChainProblem(
                "modified",
                start,
                f"the chain was rewritten between records {start} and {row.id}: "
                f"record {row.id} differs "
                "from its signed head",
            )
    return None


def _rechain_problem(row: _Row, signer: Signer | PublicVerifier) -> ChainProblem | None:
    """An ``audit.rechained`` record's superseded head signatures must verify with the key, and
    it must name no record found broken before the re-chaining."""
    _ts, _actor, action, _target, details = row.content
    if action != RECHAINED:
        return None
    broken: Any = (details or {}).get("broken_before") or []
    if broken:
        first = broken[0] if isinstance(broken, list) else row.id
        return ChainProblem(
            "modified",
            int(first) if isinstance(first, int) else row.id,
            f"record {first} no longer matched its hash when record {row.id} re-chained the log "
            "(it had been modified before the re-chaining)",
        )
    heads: Any = (details or {}).get("superseded_heads", [])
    listed: list[Any] = heads if isinstance(heads, list) else [None]
    for head in listed:
        try:
            kind, sig = split_signature(str(head["signature"]))
            message = signed_message(kind, int(head["event_id"]), str(head["head_hash"]))
        except (TypeError, KeyError, ValueError):
            kind, sig, message = "", "", b""
        if kind != HEAD or not signer.verify(message, sig):
            return ChainProblem(
                "signature",
                row.id,
                f"the re-chaining record {row.id} lists a superseded head signature that does "
                "not verify with this deployment's signing key",
            )
    return None


def _pairs(rows: Iterator[_Row]) -> Iterator[tuple[_Row, _Row | None]]:
    current = next(rows, None)
    while current is not None:
        following = next(rows, None)
        yield current, following
        current = following


def verify_chain(
    db: Database, signer: Signer | PublicVerifier, *, batch: int = BATCH
) -> ChainReport:
    """Check the whole chain; stops at the first problem and names the record affected."""
    sigs = _load_signatures(db)
    problem = _check_signatures(signer, sigs)
    count, first_id, last_id, signed = 0, None, None, None
    prev_hash = ""
    rechained: list[int] = []
    for row, nxt in _pairs(_stream(db, batch)):
        if problem is not None:
            break
        if first_id is None:
            first_id = row.id
            problem = _start_problem(row, sigs)
            prev_hash = row.prev_hash
            expected = row.id
        problem = (
            problem
            or _diagnose(row, nxt, expected, prev_hash)
            or _head_problem(row, sigs, signed)
            or _rechain_problem(row, signer)
        )
        if problem is None:
            if row.content[2] == RECHAINED:
                rechained.append(row.id)
            if row.id in sigs.by_event:
                signed = (
                    row.id
                    if any(split_signature(s.signature)[0] == HEAD for s in sigs.by_event[row.id])
                    else signed
                )
            count, last_id, prev_hash, expected = count + 1, row.id, row.hash, row.id + 1
    if problem is None:
        problem = _tail_problem(sigs, last_id)
    return ChainReport(
        count,
        first_id,
        last_id,
        sigs.count,
        signed,
        problem,
        signer.public_b64,
        tuple(rechained),
    )


def _tail_problem(sigs: _Sigs, last_id: int | None) -> ChainProblem | None:
    beyond = [eid for eid in sigs.by_event if eid > (last_id or 0)]
    if not beyond:
        return None
    missing = (last_id or 0) + 1
    return ChainProblem(
        "deleted",
        missing,
        f"records {missing}..{max(beyond)} were deleted: a signature covers record {max(beyond)}",
    )
