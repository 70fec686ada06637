"""Append-only, hash-chained audit log.

Each record stores the SHA-256 of the previous record and its own hash over a canonical JSON
encoding of (id, ts, actor, action, target, details, prev_hash). Records are written in the same
transaction as the action they describe. Ids are consecutive from 1.

The chain head is signed periodically with the deployment's Ed25519 key (:func:`sign_head`), and
when retention prunes old records it removes only a whole prefix and leaves a signed *anchor*
(checkpoint) on the last pruned hash, so the remaining chain still verifies
(:mod:`vigil.accountability.chain`).

Every record made on behalf of a web principal names the credential used (``details.credential``:
``session:<16 hex of the session's hash>`` or ``token:<id>``, never a secret). A caller passes it
to :func:`record`, or the web layer binds it once per request with :func:`bind_credential` (a
context variable: each request runs in its own task, so nothing leaks between requests).

Nothing identifying a watchlist subject goes into a record: services name a subject by its
pseudonymous reference (:mod:`vigil.accountability.pseudonyms`), whose key a purge destroys. The
chain therefore hashes only what may stay forever, and a purge never touches the chain.

Records written before that (migration 0003) named subjects. Redacting them in place would
break their hashes, and a chain that hashes a commitment to the name (a salted hash kept aside)
would still need the salt deleted per person: both change what was signed. So migration 0003
rewrites those records once and *re-chains*: it re-hashes every record from the first rewritten
one, and appends an ``audit.rechained`` record (:data:`RECHAINED`) stating the old head's id and
hash, how many records were rewritten and re-hashed, and the head signatures the rewrite
superseded (moved out of ``audit_signatures`` into that record, so they stay checkable:
:mod:`vigil.accountability.chain` verifies each with the signing key and lists every
re-chaining in its report). An auditor who kept an earlier signed head can find it there, and
the next periodic head signature covers the re-chained log. Anything written after that is
tamper-evident as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.accountability.pseudonyms import REF_PATTERN
from vigil.accountability.signing import Signer
from vigil.db.models import AuditEvent, AuditSignature
from vigil.db.session import Database, take_writer_lock
from vigil.repositories.audit import AuditQuery, AuditRepo
from vigil.timeutil import utcnow

GENESIS = "0" * 64
HEAD = "head"
ANCHOR = "anchor"
RECHAINED = "audit.rechained"  # the action of a re-chaining record (see the module docstring)
SUBJECT = "subject"  # details key and target prefix: a subject, by pseudonymous reference only
_SUBJECT_TARGET = re.compile(rf"{SUBJECT}:{REF_PATTERN.pattern}")
CREDENTIAL = "credential"  # the details key naming the credential a web principal used

_credential: ContextVar[str | None] = ContextVar("vigil_audit_credential", default=None)


def bind_credential(credential: str | None) -> None:
    """Name the credential this request acts with; :func:`record` adds it to every record."""
    _credential.set(credential)


def bound_credential() -> str | None:
    """The credential bound to the current request (None outside a web request)."""
    return _credential.get()


def canonical(
    event_id: int,
    ts: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> bytes:
    body = {
        "id": event_id,
        "ts": ts.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def record_hash(event: AuditEvent) -> str:
    data = canonical(
        event.id,
        event.ts,
        event.actor,
        event.action,
        event.target,
        event.details or {},
        event.prev_hash,
    )
    return hashlib.sha256(data).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    details: Mapping[str, Any] | None = None,
    credential: str | None = None,
) -> AuditEvent:
    """Append one audit event inside the caller's (write) transaction.

    ``credential`` (default: the one bound to the request) is added as ``details.credential``.
    """
    take_writer_lock(session)  # PostgreSQL: one appender at a time across processes (no-op if held)
    repo = AuditRepo(session)
    last = repo.head()
    prev_hash = last.hash if last else _anchor_hash(repo)
    next_id = (last.id + 1) if last else _anchor_id(repo) + 1
    body = dict(details or {})
    _refuse_subject_names(target, body)
    used = credential or _credential.get()
    if used and CREDENTIAL not in body:
        body[CREDENTIAL] = used
    clean = json.loads(json.dumps(body, default=str))
    event = AuditEvent(
        id=next_id,
        ts=utcnow(),
        actor=actor,
        action=action,
        target=target,
        details=clean,
        prev_hash=prev_hash,
    )
    event.hash = record_hash(event)
    repo.append(event)
    return event


def _refuse_subject_names(target: str, details: Mapping[str, Any]) -> None:
    """A record names a subject only by reference (a programming error otherwise)."""
    subject = details.get(SUBJECT)
    named = subject is not None and not REF_PATTERN.fullmatch(str(subject))
    if named or (target.startswith(f"{SUBJECT}:") and not _SUBJECT_TARGET.fullmatch(target)):
        raise ValueError(
            "an audit record must name a subject by its pseudonymous reference "
            "(vigil.accountability.pseudonyms.SubjectRefs.of), never by name or id"
        )


def _anchor_id(repo: AuditRepo) -> int:
    anchor = repo.last_signature_like(f"{ANCHOR}:")
    return anchor.event_id if anchor else 0


def _anchor_hash(repo: AuditRepo) -> str:
    anchor = repo.last_signature_like(f"{ANCHOR}:")
    return anchor.head_hash if anchor else GENESIS


def signed_message(kind: str, event_id: int, head_hash: str) -> bytes:
    """What a head or anchor signature covers."""
    return f"vigil-audit-{kind}|{event_id}|{head_hash}".encode()


def split_signature(text: str) -> tuple[str, str]:
    """'head:<b64>' -> ('head', '<b64>'); unknown forms give ('', text)."""
    kind, sep, sig = text.partition(":")
    return (kind, sig) if sep and kind in (HEAD, ANCHOR) else ("", text)


def _sign(repo: AuditRepo, signer: Signer, kind: str, event_id: int, head: str) -> AuditSignature:
    sig = signer.sign(signed_message(kind, event_id, head))
    row = AuditSignature(
        event_id=event_id, head_hash=head, signature=f"{kind}:{sig}", created_at=utcnow()
    )
    return repo.add_signature(row)


def sign_head(db: Database, signer: Signer) -> AuditSignature | None:
    """Sign the current chain head; does nothing when the head is already signed or empty."""
    with db.write() as s:
        repo = AuditRepo(s)
        last = repo.head()
        if last is None or repo.is_signed(last):
            return None
        return _sign(repo, signer, HEAD, last.id, last.hash)


def prune_before(session: Session, signer: Signer, cutoff: datetime) -> int:
    """Delete the oldest records with ts < cutoff as one whole prefix, leaving a signed anchor.

    The newest record is always kept, so the chain continues from it. Returns records deleted.
    """
    repo = AuditRepo(session)
    bounds = repo.id_range()
    if bounds is None:
        return 0
    first_id, last_id = bounds
    first_kept = repo.first_id_since(cutoff)
    cut = min((first_kept - 1) if first_kept is not None else last_id, last_id - 1)
    if cut < first_id:
        return 0
    head = repo.hash_of(cut)
    if head is None:
        return 0
    _sign(repo, signer, ANCHOR, cut, head)
    return repo.delete_through(cut)


def list_events(
    session: Session,
    *,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> Sequence[AuditEvent]:
    """Newest first. ``action`` matches exactly or as a dotted prefix ('authorization')."""
    return AuditRepo(session).search(AuditQuery(action=action, since=since, limit=limit))
