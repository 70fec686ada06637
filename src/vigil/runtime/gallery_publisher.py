"""The command center's side of the gallery: build it, version it, put it in the object store.

The :class:`~vigil.services.gallery.ActiveGallery` (authorized entries only, decrypted here)
is checked every ``runtime.gallery_check_seconds`` and at once when :meth:`request` is called
(a purge on the alert bus: a revocation). A changed gallery becomes a new
:class:`~vigil.runtime.wire.GalleryRelease` with the next version, put once into Ray's object
store; every actor gets it, and it is sent again every ``runtime.gallery_publish_seconds`` and
to any actor that reports another version. The snapshot is treated as opaque.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.faces.gallery import GallerySnapshot
from vigil.runtime.wire import GalleryRelease
from vigil.services.gallery import ActiveGallery
from vigil.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class Publication:
    """The release to hand out now: ``changed`` (new version) or ``due`` (periodic resend)."""

    release: GalleryRelease
    ref: Any  # what ``put`` returned (an ObjectRef with Ray)
    changed: bool
    due: bool


def _fingerprint(snapshot: GallerySnapshot) -> tuple[object, ...]:
    return (snapshot.pack, snapshot.threshold, snapshot.min_face_px, snapshot.entries)


class GalleryPublisher:
    """One verb: :meth:`publication`; :meth:`request` asks for an immediate check."""

    def __init__(
        self,
        gallery: ActiveGallery,
        put: Callable[[GalleryRelease], Any],
        *,
        check_seconds: float,
        publish_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gallery = gallery
        self.put = put
        self.check_seconds = check_seconds
        self.publish_seconds = publish_seconds
        self.origin = uuid.uuid4().hex[:12]
        self._clock = clock
        self._lock = threading.Lock()
        self._requested = threading.Event()
        self._release: GalleryRelease | None = None
        self._ref: Any = None
        self._fingerprint: tuple[object, ...] | None = None
        self._checked_at = float("-inf")
        self._sent_at = float("-inf")

    def request(self) -> None:
        self._requested.set()

    @property
    def version(self) -> int:
        return self._release.version if self._release is not None else 0

    def publication(self) -> Publication:
        with self._lock:
            now = self._clock()
            changed = False
            if self._requested.is_set() or now - self._checked_at >= self.check_seconds:
                self._requested.clear()
                changed = self._check(now)
            due = now - self._sent_at >= self.publish_seconds
            if changed or due:
                self._sent_at = now
            assert self._release is not None
            return Publication(self._release, self._ref, changed, due)

    def _check(self, now: float) -> bool:
        """Load the gallery and publish it if it changed. Marked checked only once that
        worked: a failed load or put is tried again at the next round, not a period later
        (until a first release exists, no round can run without one)."""
        snapshot = self.gallery.refresh()
        fingerprint = _fingerprint(snapshot)
        if fingerprint == self._fingerprint:
            self._checked_at = now
            return False
        release = GalleryRelease(self.version + 1, snapshot, utcnow(), self.origin)
        self._ref = self.put(release)
        self._release, self._fingerprint = release, fingerprint
        self._checked_at = now
        return True
