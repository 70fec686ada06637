"""Pseudonymous subject references: what the audit log says instead of a person's name.

An audit record about a watchlist subject (an enrollment, a candidate alert, a viewing of the
enrolled photo, a removal) names the subject by a *reference*: ``ps-`` and 32 hex digits of
HMAC-SHA256(subject key, "vigil-subject:<subject id>"). The subject key is 32 random bytes made
when the subject is first referenced, stored in ``subject_keys`` sealed with the deployment's
data key (like templates), and deleted with the subject (ON DELETE CASCADE; deleted cells are
zeroed by ``secure_delete``). So:

- while the subject lives, an auditor can resolve a reference (:meth:`SubjectRefs.resolve`):
  Vigil opens each living key and recomputes its reference, giving "watchlist/name";
- after a purge or removal no key can recompute the reference, and no stored value links it to
  anyone: the records of that person stay countable and linked to each other (the audit keeps
  its shape: what happened when, under which authorization), but name no one;
- the reference is never stored next to the subject (only the sealed key is), so a copy of the
  database without the data key does not link references to subjects either.

The name itself is never put in the audit: nothing identifying (name, photo file names) is
hashed into the chain, so a purge needs no rewrite of the chain (see
:mod:`vigil.accountability.audit`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from vigil.accountability.crypto import DataCipher
from vigil.db.models import SubjectKey
from vigil.db.session import Database
from vigil.errors import IntegrityError
from vigil.repositories.subject_keys import SubjectKeyRepo
from vigil.timeutil import utcnow

REF_PREFIX = "ps-"
KEY_BYTES = 32
PURGED = "purged subject"
REF_PATTERN = re.compile(r"ps-[0-9a-f]{32}")
_log = logging.getLogger(__name__)


def reference(key: bytes, subject_id: int) -> str:
    """The subject's pseudonymous reference under ``key``."""
    mac = hmac.new(key, f"vigil-subject:{subject_id}".encode(), hashlib.sha256).hexdigest()
    return REF_PREFIX + mac[:32]


def key_aad(subject_id: int) -> bytes:
    """What binds a sealed subject key to its row."""
    return f"subject_key:{subject_id}".encode()


def refs_in(target: str, details: Mapping[str, Any] | None) -> set[str]:
    """Every reference an audit record carries (in its target or anywhere in its details)."""
    found = set(REF_PATTERN.findall(target or ""))
    stack: list[Any] = [details or {}]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(REF_PATTERN.findall(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


class SubjectRefs:
    """Makes and resolves subjects' references with the deployment's data cipher."""

    def __init__(self, cipher: DataCipher) -> None:
        self.cipher = cipher

    def of(self, session: Session, subject_id: int) -> str:
        """The subject's reference, making (and sealing) its key on first use."""
        repo = SubjectKeyRepo(session)
        row = repo.get(subject_id)
        if row is not None:
            try:
                return reference(self._open(row.key, row.encrypted, subject_id), subject_id)
            except IntegrityError:
                # Never let an unreadable key stop an alert or an enrollment: a new key makes
                # new references; the old ones become unresolvable (the privacy-safe failure).
                _log.warning(
                    "subject %d: its reference key is unreadable; made a new one", subject_id
                )
        key = os.urandom(KEY_BYTES)
        sealed = self.cipher.seal(key, key_aad(subject_id))
        if row is None:
            repo.add(
                SubjectKey(subject_id=subject_id, key=sealed, encrypted=True, created_at=utcnow())
            )
        else:
            row.key, row.encrypted = sealed, True
        return reference(key, subject_id)

    def resolve(self, session: Session, refs: Iterable[str]) -> dict[str, str]:
        """Each reference's subject as "watchlist/name", or :data:`PURGED` when no living
        subject's key gives it (the subject was purged or removed)."""
        wanted = set(refs)
        labels = dict.fromkeys(wanted, PURGED)
        if not wanted:
            return labels
        for row in SubjectKeyRepo(session).living():
            try:
                key = self._open(row.key, row.encrypted, row.subject_id)
            except IntegrityError:
                _log.warning("subject %d: its reference key is unreadable", row.subject_id)
                continue
            ref = reference(key, row.subject_id)
            if ref in wanted:
                labels[ref] = f"{row.watchlist}/{row.subject}"
        return labels

    def _open(self, key: bytes, encrypted: bool, subject_id: int) -> bytes:
        return self.cipher.open(key, key_aad(subject_id)) if encrypted else key


def seal_pending_keys(db: Database, cipher: DataCipher) -> int:
    """Seal the keys a migration stored in the clear (it had no data key); returns how many."""
    with db.read() as s:
        if not SubjectKeyRepo(s).unsealed():
            return 0
    with db.write() as s:
        rows = SubjectKeyRepo(s).unsealed()
        for row in rows:
            row.key = cipher.seal(row.key, key_aad(row.subject_id))
            row.encrypted = True
        return len(rows)
