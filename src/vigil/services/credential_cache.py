"""Who a credential (API token, session cookie) authenticated, kept for a second or two.

Every API request authenticates its caller: an API token costs two queries (token, owner), a
session cookie two more (session, user). Under the command center's polling that was a large
part of each ``GET /api/alerts``. :class:`CredentialCache` keeps the answer briefly, keyed by a
SHA-256 of the credential (never the secret itself), so a poller's next request authenticates
without touching the database.

Why a change still applies at once:

* In THIS process every change of a credential or of what it grants (token revocation, logout,
  session end, password change or reset, role change, deactivation) calls :meth:`invalidate`
  after its transaction commits (:class:`~vigil.services.users.UserService`,
  :class:`~vigil.services.sessions.SessionService`). It forgets every entry and moves the
  generation, so a lookup that read the database before the commit cannot store its stale answer
  afterwards (:meth:`put` refuses an answer read under an older generation).
* Changes made by OTHER processes (a second ``vigil serve`` on the same database) are
  seen when the entry ages out: at most ``ttl_seconds`` (bounded to 2 s by the config).

Only successful authentications are kept: an unknown, forged or revoked credential always goes
to the database. ``ttl_seconds`` 0 disables the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_TTL_SECONDS = 2.0
DEFAULT_TTL_SECONDS = 1.0
DEFAULT_MAX_ENTRIES = 4096


def credential_key(kind: str, secret: str) -> str:
    """The cache key of a credential: its kind and a SHA-256 of it (the secret is not kept)."""
    return kind + ":" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    born: float


class CredentialCache(Generic[T]):
    """Authenticated principals by credential key; verbs :meth:`get`, :meth:`put`,
    :meth:`invalidate`. Thread-safe; every call is a short lock and no I/O."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(
                f"the credential cache keeps entries 0 to {MAX_TTL_SECONDS} s, not {ttl_seconds}"
            )
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Read this BEFORE loading a principal from the database; pass it to :meth:`put`."""
        with self._lock:
            return self._generation

    def get(self, key: str) -> T | None:
        """The kept principal for ``key``, or None (absent or older than ``ttl_seconds``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() - entry.born >= self.ttl_seconds:
                del self._entries[key]
                return None
            return entry.value

    def put(self, key: str, value: T, generation: int) -> bool:
        """Keep ``value`` unless a credential changed since ``generation`` was read."""
        if self.ttl_seconds <= 0:
            return False
        with self._lock:
            if generation != self._generation:
                return False
            self._entries[key] = _Entry(value, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def invalidate(self) -> None:
        """Forget everything (a credential or a user's rights changed in this process)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Wrap a write transaction that changes credentials: :meth:`invalidate` runs after it
        (after its commit, also when it fails), so no answer read before the commit survives."""
        try:
            yield
        finally:
            self.invalidate()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
