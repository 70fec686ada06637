"""The public transparency page (``server.public_report``): signed JSON and its HTML."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from vigil.accountability.public_render import render_public_html
from vigil.accountability.public_report import build_public_payload, sign_payload
from vigil.accountability.signing import Signer
from vigil.config import Settings
from vigil.db.session import Database
from vigil.errors import NotFound
from vigil.timeutil import utcnow

CACHE_SECONDS = 60.0


class PublicReportService:
    """Builds the public page from the repositories; refuses (404) unless it is switched on.

    Anyone may ask for it, so the signed document is rebuilt at most once per ``cache_seconds``
    (about fifty aggregate queries each time); 0 rebuilds it on every request.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        signer: Callable[[], Signer],
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.db = db
        self.settings = settings
        self._signer = signer
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _check_enabled(self) -> None:
        if not self.settings.server.public_report:
            raise NotFound(
                "there is no public transparency page on this deployment",
                hint="its operator can publish one with server.public_report: true",
            )

    def signed(self) -> dict[str, Any]:
        """The signed document: payload, signature, key id and public key."""
        self._check_enabled()
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                payload = build_public_payload(self.db, self.settings, utcnow())
                self._cached = (now, sign_payload(payload, self._signer()))
            return self._cached[1]

    def html(self) -> str:
        doc = self.signed()
        return render_public_html(doc["payload"], doc["key_id"], doc["public_key"])
