"""The gallery running cameras match against: templates under active authorizations, kept
current by change, one per pack per process.

:class:`ActiveGallery` loads once (:meth:`ActiveGallery.refresh`: templates streamed in
batches, sealed vectors opened, the photo column never read) and then follows the database
with :meth:`ActiveGallery.sync`, a cheap poll every ``matching.gallery_refresh_seconds``:

- authority (the few watchlist/authorization rows): a revoked, refused or expired authorization
  is dropped from the index at once (one partition, whatever its size); a changed scope moves
  its entries; a newly authorized or re-bound watchlist has its templates loaded;
- new templates: ids above the template cursor are streamed, opened and added in place;
- removals (a subject deleted, a retention purge...): audit events after the audit cursor
  trigger an id reconcile (ids only; only missing templates are opened).

Every ``matching.gallery_reconcile_seconds`` the id reconcile runs anyway, as a safety net.
Expiry by time needs no poll: the index filters by each authorization's window at search time.
Nothing is rebuilt and nothing already loaded is decrypted again.

:class:`GalleryHub` holds the process's galleries (one per pack) shared by every camera, and
syncs them on one background thread so camera threads never pay for it.

The threshold comes from :func:`vigil.accountability.threshold.threshold_in_force` and the
minimum face size from :func:`~vigil.accountability.threshold.min_face_in_force`, both for the
number of distinct subjects in the gallery (the watchlist-size ladders; set at every load and
sync, so they follow enrolments, removals and revocations; the snapshot carries both to the
cameras' quality gate and matcher). A template
that cannot be opened or has the wrong number of dimensions is logged and left out. The
pipeline sees only the :class:`~vigil.faces.gallery.GallerySnapshot` (``snapshot()``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
from sqlalchemy.orm import Session

from vigil.accountability.crypto import DataCipher
from vigil.accountability.threshold import min_face_in_force, threshold_in_force
from vigil.config import Settings
from vigil.db.session import Database
from vigil.errors import IntegrityError
from vigil.faces.gallery import FilteredGallery, GallerySnapshot, Scope
from vigil.faces.index import IndexPolicy
from vigil.repositories.gallery import GalleryRepo, StoredTemplate, WatchlistAuthority
from vigil.services.gallery_snapshot import REMOVAL_ACTIONS, GallerySnapshotStore, SnapshotCursors
from vigil.threads import BackgroundLoop
from vigil.timeutil import utcnow
from vigil.types import GalleryEntry

log = logging.getLogger(__name__)

# A loaded snapshot this far behind the database (changes / its size) is not used: rebuild.
SNAPSHOT_STALE_FRACTION = 0.5
# Save the snapshot again once this many templates (fraction of the gallery) were added.
SNAPSHOT_RESAVE_FRACTION = 0.1


class OperatingPoint(NamedTuple):
    """The threshold and minimum face size in force for a gallery's number of people."""

    threshold: float
    min_face_px: int


@dataclass
class SyncReport:
    """What one :meth:`ActiveGallery.sync` changed."""

    added: int = 0
    removed: int = 0
    dropped_authorizations: list[int] = field(default_factory=list)
    rescoped_authorizations: list[int] = field(default_factory=list)
    reconciled: bool = False


class ActiveGallery:
    """Authorized templates of one pack, changed in place by id; see :meth:`snapshot`."""

    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        pack: str,
        *,
        refresh_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        policy: IndexPolicy | None = None,
        snapshots: GallerySnapshotStore | None = None,
    ) -> None:
        self.db = db
        self.snapshots = snapshots  # save/load the built index (the command center's gallery)
        self.source = ""  # where the last full load came from: "database" or "snapshot"
        self._added_since_save = 0
        self.cipher = cipher
        self.settings = settings
        self.pack = pack
        self.refresh_seconds = (
            settings.matching.gallery_refresh_seconds
            if refresh_seconds is None
            else refresh_seconds
        )
        self.reconcile_seconds = settings.matching.gallery_reconcile_seconds
        self.policy = policy or IndexPolicy(kind=settings.matching.index)
        self.inline_sync = True  # False when a GalleryHub syncs on its own thread
        self._clock = clock
        self._sync_lock = threading.Lock()
        self._snapshot: GallerySnapshot | None = None
        self._cursors = SnapshotCursors(0, 0, {})
        self._synced_at = 0.0
        self._reconciled_at = 0.0

    def snapshot(self) -> GallerySnapshot:
        """The current gallery; loaded on first use, then synced when the poll is due."""
        snap = self._snapshot
        if snap is None:
            with self._sync_lock:
                return self._snapshot or self._refresh_locked(None)
        due = self.inline_sync and self._clock() - self._synced_at >= self.refresh_seconds
        if due and self._sync_lock.acquire(blocking=False):  # one thread syncs, others match
            try:
                self._sync_locked(None)
            finally:
                self._sync_lock.release()
        return self._snapshot or snap

    def refresh(self, now: datetime | None = None) -> GallerySnapshot:
        """A full load from the database now (cold start; a new index replaces the old)."""
        with self._sync_lock:
            return self._refresh_locked(now)

    def sync(self, now: datetime | None = None) -> SyncReport:
        """Apply what changed since the last load or sync (see the module docstring)."""
        with self._sync_lock:
            if self._snapshot is None:
                self._refresh_locked(now)
                return SyncReport(reconciled=True)
            return self._sync_locked(now)

    @property
    def watchlists(self) -> list[str]:
        """Names of the watchlists with at least one loaded template."""
        return sorted({e.watchlist_name for e in self.snapshot().entries})

    def _refresh_locked(self, now: datetime | None) -> GallerySnapshot:
        if self.snapshots is not None:
            loaded = self._from_snapshot(self.snapshots, now)
            if loaded is not None:
                return loaded
        snap = self._build_locked(now)
        self._save()
        return snap

    def _build_locked(self, now: datetime | None) -> GallerySnapshot:
        at = now or utcnow()
        gallery = FilteredGallery(self.policy)
        with self.db.read() as s:
            repo = GalleryRepo(s)
            cursors = SnapshotCursors(
                repo.max_template_id(self.pack),
                repo.max_audit_id(),
                {a.watchlist_id: a for a in repo.authority(at)},
            )
            for batch in repo.stream_templates(self.pack, at):
                self._add(gallery, batch)
            point = self._point(s, gallery)
        snap = GallerySnapshot.of(gallery, point.threshold, self.pack, point.min_face_px)
        self._snapshot, self._cursors, self.source = snap, cursors, "database"
        self._synced_at = self._reconciled_at = self._clock()
        return snap

    def _from_snapshot(
        self, store: GallerySnapshotStore, now: datetime | None
    ) -> GallerySnapshot | None:
        """The saved gallery brought up to date by id (a forced reconcile), or None."""
        loaded = store.load(self.pack, self.policy)
        if loaded is None:
            return None
        with self.db.read() as s:
            point = self._point(s, loaded.gallery)  # the sync below follows changes
        size = len(loaded.gallery)
        self._snapshot = GallerySnapshot.of(
            loaded.gallery, point.threshold, self.pack, point.min_face_px
        )
        self._cursors, self._reconciled_at = loaded.cursors, float("-inf")
        report = self._sync_locked(now, save=False)
        changed = report.added + report.removed
        if changed > SNAPSHOT_STALE_FRACTION * max(size, 1) and changed > 1000:
            log.warning(
                "gallery %s: snapshot of %s is %d changes behind (%d templates): rebuilding",
                self.pack,
                loaded.saved_at.isoformat(),
                changed,
                size,
            )
            self._snapshot = None
            return None
        log.info(
            "gallery %s: loaded the snapshot of %s (%d templates), then %d added, %d removed",
            self.pack,
            loaded.saved_at.isoformat(),
            size,
            report.added,
            report.removed,
        )
        self.source = "snapshot"
        if changed:
            self._save()
        return self._snapshot

    def _save(self) -> None:
        """Save the snapshot (when this gallery keeps one); a failure is logged, never raised,
        and leaves no older snapshot behind."""
        if self.snapshots is None or self._snapshot is None:
            return
        try:
            saved = self.snapshots.save(self.pack, self._snapshot.gallery, self._cursors)
        except (OSError, MemoryError) as exc:
            log.warning(
                "gallery %s: snapshot not saved (%s); the next start builds from the database",
                self.pack,
                exc,
            )
            saved = False
        if not saved:
            self.snapshots.discard(self.pack)
        self._added_since_save = 0

    def _sync_locked(self, now: datetime | None, *, save: bool = True) -> SyncReport:
        assert self._snapshot is not None
        at, report, gallery = now or utcnow(), SyncReport(), self._snapshot.gallery
        with self.db.read() as s:
            repo = GalleryRepo(s)
            authority = {a.watchlist_id: a for a in repo.authority(at)}
            max_tid, max_audit = repo.max_template_id(self.pack), repo.max_audit_id()
            self._apply_authority(s, gallery, authority, at, report)
            if max_tid > self._cursors.template_id:
                self._raise_before_adding(s, repo, gallery, at)
                for batch in repo.stream_templates(
                    self.pack, at, after_id=self._cursors.template_id
                ):
                    report.added += self._add(gallery, batch)
            due = self._clock() - self._reconciled_at >= self.reconcile_seconds
            if due or self._removals_since(repo, max_audit):
                self._reconcile(s, gallery, at, report)
            point = self._point(s, gallery)
        self._cursors = SnapshotCursors(
            max(max_tid, self._cursors.template_id), max_audit, authority
        )
        if point != (self._snapshot.threshold, self._snapshot.min_face_px):
            self._snapshot = GallerySnapshot.of(
                gallery, point.threshold, self.pack, point.min_face_px
            )
        self._synced_at = self._clock()
        self._added_since_save += report.added
        removed = report.removed or report.dropped_authorizations or report.rescoped_authorizations
        grown = self._added_since_save > SNAPSHOT_RESAVE_FRACTION * max(len(gallery), 1)
        if save and (removed or grown):
            self._save()  # a purged template must not stay in the snapshot
        return report

    def _raise_before_adding(
        self, s: Session, repo: GalleryRepo, gallery: FilteredGallery, at: datetime
    ) -> None:
        """Raise the threshold and the minimum face size for the people about to be added
        *before* adding them, so that no camera matches a new template at the operating point of
        the smaller gallery (the count in the database already includes them; lowering waits for
        the end of the sync)."""
        snap = self._snapshot
        assert snap is not None
        n = max(gallery.subject_count(), repo.active_subject_count(self.pack, at))
        point = self._point(s, gallery, n)
        if point.threshold > snap.threshold or point.min_face_px > snap.min_face_px:
            self._snapshot = GallerySnapshot.of(
                gallery,
                max(point.threshold, snap.threshold),
                self.pack,
                max(point.min_face_px, snap.min_face_px),
            )

    def _point(self, s: Session, gallery: FilteredGallery, n: int | None = None) -> OperatingPoint:
        """The threshold and minimum face size in force for ``n`` enrolled people, by default
        this gallery's number (all partitions: a camera's scope sees at most that many)."""
        n = gallery.subject_count() if n is None else n
        return OperatingPoint(
            threshold_in_force(s, self.settings, self.pack, n),
            min_face_in_force(s, self.settings, self.pack, n),
        )

    def _removals_since(self, repo: GalleryRepo, max_audit: int) -> bool:
        if max_audit <= self._cursors.audit_id:
            return False
        actions = repo.audit_actions_after(self._cursors.audit_id)
        return any(a.startswith(REMOVAL_ACTIONS) for a in actions)

    def _apply_authority(
        self,
        s: Session,
        gallery: FilteredGallery,
        authority: dict[int, WatchlistAuthority],
        at: datetime,
        report: SyncReport,
    ) -> None:
        """Drop lapsed authorizations, move changed scopes, load newly authorized watchlists."""
        live = {a.authorization_id for a in authority.values()}
        for scope in gallery.scopes():
            if scope.authorization_id not in live:
                report.removed += gallery.drop_authorization(scope.authorization_id)
                report.dropped_authorizations.append(scope.authorization_id)
        for a in {a.authorization_id: a for a in authority.values()}.values():
            scope = Scope(a.authorization_id, a.valid_from, a.expires_at, a.cameras)
            if any(
                s.authorization_id == scope.authorization_id and s != scope
                for s in gallery.scopes()
            ):
                gallery.rescope(scope)
                report.rescoped_authorizations.append(scope.authorization_id)
        old = self._cursors.authority
        changed = [
            w
            for w, a in authority.items()
            if old.get(w) is None
            or (old[w].watchlist_name, old[w].authorization_id, old[w].authorization_reference)
            != (a.watchlist_name, a.authorization_id, a.authorization_reference)
        ]
        if changed:
            self._raise_before_adding(s, GalleryRepo(s), gallery, at)  # a newly valid watchlist
            wanted = set(changed)
            report.removed += gallery.remove(
                e.template_id for e in gallery.entries() if e.watchlist_id in wanted
            )
            for batch in GalleryRepo(s).stream_templates(
                self.pack, at, watchlists=changed, after_id=0
            ):
                batch = [t for t in batch if t.entry.template_id <= self._cursors.template_id]
                report.added += self._add(gallery, batch)

    def _reconcile(
        self, s: Session, gallery: FilteredGallery, at: datetime, report: SyncReport
    ) -> None:
        """Ids in the database against ids in the index: remove the gone, load the missing."""
        stored = GalleryRepo(s).active_template_ids(self.pack, at)
        held = gallery.template_ids()
        report.removed += gallery.remove(held - stored)
        missing = sorted(stored - held)
        if missing:  # e.g. a template committed after a later id was seen
            self._raise_before_adding(s, GalleryRepo(s), gallery, at)
        for start in range(0, len(missing), 900):  # bound the IN (...) list
            chunk = missing[start : start + 900]
            for batch in GalleryRepo(s).stream_templates(self.pack, at, template_ids=chunk):
                report.added += self._add(gallery, batch)
        report.reconciled = True
        self._reconciled_at = self._clock()

    def _add(self, gallery: FilteredGallery, stored: Iterable[StoredTemplate]) -> int:
        entries, vectors = self._open(stored, gallery.dim)
        if entries:
            gallery.add(entries, vectors)
        return len(entries)

    def _open(
        self, stored: Iterable[StoredTemplate], dim: int | None
    ) -> tuple[list[GalleryEntry], np.ndarray]:
        entries: list[GalleryEntry] = []
        rows: list[np.ndarray] = []
        for item in stored:
            vector = self._vector(item)
            if vector is None:
                continue
            dim = dim or vector.shape[0]
            if vector.shape[0] != dim:
                log.warning(
                    "template %s has %d dimensions, expected %d: not loaded; re-enroll it",
                    item.entry.template_id,
                    vector.shape[0],
                    dim,
                )
                continue
            entries.append(item.entry)
            rows.append(vector)
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim or 0), np.float32)
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


class GalleryHub:
    """The process's galleries, one per pack, shared by every camera and synced on one thread."""

    def __init__(self, db: Database, cipher: DataCipher, settings: Settings) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        matching = settings.matching
        self.snapshots = (
            GallerySnapshotStore(
                settings.home,
                db,
                cipher,
                timedelta(hours=matching.gallery_snapshot_max_age_hours),
            )
            if matching.gallery_snapshot
            else None
        )
        self._galleries: dict[str, ActiveGallery] = {}
        self._lock = threading.Lock()
        self._loop = BackgroundLoop("vigil-gallery-sync", self._run)

    def gallery(self, pack: str) -> ActiveGallery:
        """The one gallery of ``pack`` in this process (created on first use)."""
        with self._lock:
            found = self._galleries.get(pack)
            if found is None:
                found = self._galleries[pack] = ActiveGallery(
                    self.db, self.cipher, self.settings, pack, snapshots=self.snapshots
                )
                found.inline_sync = False
            if not self._loop.running:
                self._loop.start()
        return found

    def _run(self) -> None:
        every = self.settings.matching.gallery_refresh_seconds
        while not self._loop.sleep(every):
            with self._lock:
                galleries = list(self._galleries.values())
            for gallery in galleries:
                try:
                    gallery.sync()
                except Exception:  # one failed poll must not stop the others; retried next time
                    log.exception("gallery %s: sync failed; retrying", gallery.pack)

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)
