"""The gallery a running camera matches against: only templates under active authorizations.

:class:`ActiveGallery` loads entries through :meth:`GalleryRepo.active_templates` (status active,
not expired), opens each sealed vector with the data cipher, and reloads every
``matching.gallery_refresh_seconds`` so that an expiry or a revocation takes effect on running
cameras without a restart. Scope and validity window are checked again per match by
:class:`~vigil.pipeline.matcher.Matcher` through ``GalleryEntry.allows``.

The threshold comes from :func:`vigil.accountability.threshold.threshold_in_force`, the one place
that decides it. A template that cannot be opened (wrong key, damaged) or has the wrong number of
dimensions is logged and left out; it never blocks the rest of the gallery. The pipeline sees only
the resulting :class:`~vigil.faces.gallery.GallerySnapshot` (through ``snapshot()``): it knows
neither the database nor the cipher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np

from vigil.accountability.crypto import DataCipher
from vigil.accountability.threshold import threshold_in_force
from vigil.config import Settings
from vigil.db.session import Database
from vigil.errors import IntegrityError
from vigil.faces.gallery import GallerySnapshot, create_index
from vigil.repositories.gallery import GalleryRepo, StoredTemplate
from vigil.timeutil import utcnow
from vigil.types import GalleryEntry

log = logging.getLogger(__name__)


class ActiveGallery:
    """Authorized templates of one pack, reloaded periodically; see :meth:`snapshot`."""

    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        pack: str,
        *,
        refresh_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        self.pack = pack
        self.refresh_seconds = (
            settings.matching.gallery_refresh_seconds
            if refresh_seconds is None
            else refresh_seconds
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: GallerySnapshot | None = None
        self._loaded_at = 0.0

    def snapshot(self) -> GallerySnapshot:
        """The current gallery, reloaded first if it is older than the refresh interval."""
        with self._lock:
            stale = (
                self._snapshot is None or self._clock() - self._loaded_at >= self.refresh_seconds
            )
        return self.refresh() if stale else self._snapshot  # type: ignore[return-value]

    def refresh(self, now: datetime | None = None) -> GallerySnapshot:
        """Reload entries and threshold from the database now."""
        at = now or utcnow()
        with self.db.read() as s:
            stored = GalleryRepo(s).active_templates(self.pack, at)
            threshold = threshold_in_force(s, self.settings, self.pack)
        entries, vectors = self._open(stored)
        index = create_index(self.settings.matching.index)
        index.build(vectors)
        snap = GallerySnapshot(tuple(entries), index, threshold, self.pack)
        with self._lock:
            self._snapshot = snap
            self._loaded_at = self._clock()
        return snap

    @property
    def watchlists(self) -> list[str]:
        """Names of the watchlists with at least one loaded template."""
        return sorted({e.watchlist_name for e in self.snapshot().entries})

    def _open(self, stored: list[StoredTemplate]) -> tuple[list[GalleryEntry], np.ndarray]:
        entries: list[GalleryEntry] = []
        rows: list[np.ndarray] = []
        for item in stored:
            vector = self._vector(item)
            if vector is None:
                continue
            if rows and vector.shape != rows[0].shape:
                log.warning(
                    "template %s has %d dimensions, expected %d: not loaded; re-enroll it",
                    item.entry.template_id,
                    vector.shape[0],
                    rows[0].shape[0],
                )
                continue
            entries.append(item.entry)
            rows.append(vector)
        dim = rows[0].shape[0] if rows else 0
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return entries, matrix

    def _vector(self, item: StoredTemplate) -> np.ndarray | None:
        """The template's vector, or None (logged) when it cannot be opened."""
        raw = item.vector
        if item.encrypted:
            try:
                raw = self.cipher.open(raw, f"template:{item.entry.template_id}".encode())
            except IntegrityError as exc:
                log.warning(
                    "template %s cannot be opened: not loaded (%s); restore the key or re-enroll",
                    item.entry.template_id,
                    exc,
                )
                return None
        if len(raw) == 0 or len(raw) % 4:
            log.warning(
                "template %s holds %d bytes, not float32 values: not loaded; re-enroll it",
                item.entry.template_id,
                len(raw),
            )
            return None
        return np.frombuffer(raw, dtype=np.float32)
