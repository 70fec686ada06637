"""The alert list's pages, serialized once and served again until an alert event changes them.

``GET /api/alerts`` is the command center's hottest read: every open dashboard and API client
polls it, while the cameras keep one core busy. Rebuilding the same page (ORM rows, then
:class:`~vigil.domain.events.AlertPublic`, then JSON) for every poller queued requests behind the
GIL; :class:`AlertPageCache` keeps the finished JSON bytes of each page instead.

What a page is keyed by: :class:`PageQuery`, i.e. the filters, the keyset position, the page size
AND the viewer's role, so one role's view is never served to another even if roles come to see
different lists.

How a page goes stale, and why it never is after an announced change: every change of an alert
(new candidate, last_seen moved, review, confirmation, rejection, purge) is delivered by the
:class:`~vigil.services.alert_bus.AlertBus` after its transaction commits; :meth:`on_event` (the bus
subscriber) drops every cached page whose id window could contain that alert before the writer's
call returns. A page of ``limit`` alerts below ``before_id`` depends only on the alerts whose ids
lie in ``[lowest id shown, before_id)`` when it is full, or in ``[0, before_id)`` when it is not
(a new alert gets a new, higher id: only pages without ``before_id``, or above it, hold it). A page
built while an event arrived is returned to its caller but not kept (the read may predate the
commit). Changes made without an event (retention in the background, renames) are bounded by
``max_age_seconds``.

The cache never looks inside an alert: it stores what the loader's ``AlertPublic`` list serializes
to, whatever its fields.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertEvent, AlertPublic

DEFAULT_MAX_ENTRIES = 512
DEFAULT_MAX_BYTES = 32 * 2**20  # a page of 500 alerts is about 0.3 MB of JSON
DEFAULT_MAX_AGE_SECONDS = 2.0
_RECENT_EVENTS = 1024  # how many invalidations a build in flight can be checked against


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One alert list request as the cache keys it: filters, keyset position, size, role."""

    role: str
    status: AlertStatus | None = None
    camera: str | None = None
    limit: int = 50
    before_id: int | None = None


@dataclass(frozen=True, slots=True)
class AlertPage:
    """A serialized page (a JSON array of AlertPublic), its entity tag, and the ids it rests on.

    Any change to an alert with ``low <= id < high`` (``high`` None: no upper bound) may change
    the page; changes to other alerts cannot.
    """

    body: bytes
    etag: str
    low: int
    high: int | None

    def rests_on(self, alert_id: int) -> bool:
        return self.low <= alert_id and (self.high is None or alert_id < self.high)

    def matches(self, if_none_match: str | None) -> bool:
        """True when an ``If-None-Match`` header names this page (the client's copy is current)."""
        if not if_none_match:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or self.etag in tags


@dataclass(slots=True)
class _Entry:
    page: AlertPage
    born: float


class PageSerializer:
    """Turns a list of alerts into an :class:`AlertPage` (JSON bytes, ETag, id window)."""

    def __init__(self) -> None:
        self._adapter = TypeAdapter(list[AlertPublic])

    def serialize(self, query: PageQuery, alerts: Sequence[AlertPublic]) -> AlertPage:
        body = self._adapter.dump_json(list(alerts))
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        full = len(alerts) >= query.limit
        low = min(a.id for a in alerts) if full and alerts else 0
        return AlertPage(body=body, etag=etag, low=low, high=query.before_id)


class AlertPageCache:
    """Serialized alert list pages; verbs :meth:`page` (read through) and :meth:`on_event`.

    Thread-safe. Concurrent misses of the same page build it once (the others wait for it), so a
    burst of pollers after an event costs one query, not one per poller.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._serializer = PageSerializer()
        self._lock = threading.Lock()
        self._entries: OrderedDict[PageQuery, _Entry] = OrderedDict()
        self._building: dict[PageQuery, threading.Lock] = {}
        self._generation = 0
        self._recent: deque[tuple[int, int]] = deque(maxlen=_RECENT_EVENTS)
        self.hits = 0
        self.misses = 0

    def cached(self, query: PageQuery) -> AlertPage | None:
        """The kept page for ``query`` or None (a short lock, no I/O)."""
        return self._fresh(query)

    def page(self, query: PageQuery, load: Callable[[], Sequence[AlertPublic]]) -> AlertPage:
        """The cached page for ``query``, or ``load()``'s alerts serialized (and kept)."""
        found = self._fresh(query)
        if found is not None:
            return found
        with self._lock:
            gate = self._building.setdefault(query, threading.Lock())
        with gate:  # one build per page at a time; the others find its result
            found = self._fresh(query)
            if found is not None:
                return found
            with self._lock:
                self.misses += 1
                started = self._generation
            built: AlertPage | None = None
            try:
                built = self._serializer.serialize(query, load())
                return built
            finally:
                with self._lock:
                    if built is not None and self._still_valid(built, started):
                        self._store(query, built)
                    self._building.pop(query, None)

    def on_event(self, event: AlertEvent) -> None:
        """AlertBus subscriber: forget every page the changed alert may appear on."""
        with self._lock:
            self._generation += 1
            self._recent.append((self._generation, event.alert_id))
            stale = [q for q, e in self._entries.items() if e.page.rests_on(event.alert_id)]
            for query in stale:
                self._drop(query)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._recent.clear()  # with the generation moved, nothing built before is kept
            self._entries.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """The JSON bytes kept (bounded by ``max_bytes``)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- under self._lock ------------------------------------------------------------------------
    def _fresh(self, query: PageQuery) -> AlertPage | None:
        with self._lock:
            entry = self._entries.get(query)
            if entry is None:
                return None
            if self._clock() - entry.born > self.max_age_seconds:
                self._drop(query)
                return None
            self._entries.move_to_end(query)
            self.hits += 1
            return entry.page

    def _still_valid(self, page: AlertPage, started: int) -> bool:
        """No event since ``started`` touched the page (or too many came to tell)."""
        missed = self._generation - started
        if missed == 0:
            return True
        if missed > len(self._recent):
            return False
        return not any(gen > started and page.rests_on(aid) for gen, aid in self._recent)

    def _store(self, query: PageQuery, page: AlertPage) -> None:
        if len(page.body) > self.max_bytes:
            return
        self._drop(query)
        self._entries[query] = _Entry(page, self._clock())
        self._bytes += len(page.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))  # the least recently used

    def _drop(self, query: PageQuery) -> None:
        entry = self._entries.pop(query, None)
        if entry is not None:
            self._bytes -= len(entry.page.body)
