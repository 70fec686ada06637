"""Periodic accountability work for a running deployment: sign the audit head, enforce retention.

``vigil serve`` (or any long-running process) builds ``AccountabilityJobs(db, settings)`` and calls
:meth:`start`; :meth:`run_once` does one round synchronously (also used by tests and the CLI).

Several servers may share one database (PostgreSQL: on several machines). The periodic rounds
run exactly once across them: a round runs only in the process that holds the deployment's
:data:`JOBS_LOCK` (:class:`Leadership`: a PostgreSQL session advisory lock, or a ``flock``
beside a SQLite file). The others try to take it at each round, so when the leader stops or
dies (its connection closes and PostgreSQL drops the lock) another one takes over at its next
round. Which process leads is written in the log, not left to luck.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from vigil.accountability import audit
from vigil.accountability.retention import RetentionEvents, RetentionResult, RetentionService
from vigil.accountability.signing import Signer, settings_signer
from vigil.config import Settings
from vigil.db.models import AuditSignature
from vigil.db.session import Database, SessionLock
from vigil.threads import BackgroundLoop

log = logging.getLogger(__name__)
DEFAULT_SIGN_EVERY_SECONDS = 300.0
JOBS_LOCK = "accountability-jobs"


class Leadership:
    """Holds (or tries to take) one named database lock; verb :meth:`lead`."""

    def __init__(self, db: Database, name: str = JOBS_LOCK) -> None:
        self.db = db
        self.name = name
        self._held: SessionLock | None = None

    def lead(self) -> bool:
        """True while this process holds the lock (taken now if free)."""
        if self._held is not None and self._held.alive():
            return True
        self._held = self.db.try_lock(self.name)
        if self._held is not None:
            log.info("this process now runs the periodic jobs (%s)", self.name)
        return self._held is not None

    def release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None


@dataclass(frozen=True, slots=True)
class JobRound:
    signature: AuditSignature | None  # the new head signature, None if the head was signed already
    retention: RetentionResult | None  # None when retention was not due


class AccountabilityJobs:
    """Audit-head signing and retention enforcement for one deployment's database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        signer: Signer | None = None,
        *,
        events: RetentionEvents | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.signer = signer or settings_signer(settings)
        # events: the retention rounds announce the alerts they delete or change
        self.retention = RetentionService(db, settings.retention, self.signer, events)
        self.leadership = Leadership(db)
        self._loop: BackgroundLoop | None = None
        self._last_retention: float | None = None

    def run_once(self, *, retention: bool = True) -> JobRound:
        """Enforce retention (when asked), then sign the audit head (covering the purge record)."""
        result = self.retention.run() if retention else None
        if retention:
            self._last_retention = time.monotonic()
        return JobRound(audit.sign_head(self.db, self.signer), result)

    def _retention_due(self) -> bool:
        every = self.settings.retention.run_every_minutes * 60.0
        return self._last_retention is None or time.monotonic() - self._last_retention >= every

    def start(self, interval: float = DEFAULT_SIGN_EVERY_SECONDS) -> None:
        """Run in a daemon thread: sign every ``interval`` s, retention every run_every_minutes."""
        if self._loop is not None and self._loop.running:
            return
        self._loop = BackgroundLoop.periodic("vigil-accountability", self._round, interval).start()

    def _round(self) -> None:
        if self.leadership.lead():  # another process leads: its rounds do the work
            self.run_once(retention=self._retention_due())

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None:
            self._loop.stop(timeout)
            self._loop = None
        self.leadership.release()
