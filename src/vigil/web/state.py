"""The services of one web app, built once by :func:`vigil.web.app.create_app`.

Routes never see this object: they receive the one service they need through the
``Annotated[..., Depends(...)]`` aliases of :mod:`vigil.web.deps`, the only module that reads it
from ``app.state``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vigil.config import Settings
from vigil.context import AppContext
from vigil.services.admin import AdminService
from vigil.services.alerts import AlertBus, AlertQueries
from vigil.services.auth import AuthService
from vigil.services.authorizations import AuthorizationService
from vigil.services.camera_control import CameraControl
from vigil.services.credential_cache import CredentialCache
from vigil.services.logs import LogService
from vigil.services.outbound import OutboxDeliverer
from vigil.services.public_report import PublicReportService
from vigil.services.reports import ReportService
from vigil.services.reviews import ReviewService
from vigil.services.sessions import SessionService
from vigil.services.sighting_reviews import SightingReviewService
from vigil.services.throttle import LoginThrottle
from vigil.services.users import UserService
from vigil.services.watchlist_desk import WatchlistDesk
from vigil.web.telemetry import VigilMetrics

if TYPE_CHECKING:
    from vigil.runtime.engine import CameraEngine
    from vigil.services.enrollment import FacePhotoValidator
    from vigil.types import ValidatedFace

OUTBOUND_DRAIN_SECONDS = 5.0


@dataclass
class WebState:
    """Everything the app's routes use, kept on ``app.state.vigil`` (each service built once)."""

    settings: Settings
    context: AppContext
    supervisor: CameraEngine | None
    bus: AlertBus
    sessions: SessionService
    users: UserService
    reviews: ReviewService
    alerts: AlertQueries
    outbound: OutboxDeliverer
    metrics: VigilMetrics
    throttle: LoginThrottle
    logs: LogService  # this process's recent log records (vigil.services.logs)
    owns_context: bool = False
    # authenticated principals (vigil.web.deps.Principal) by credential; the users and sessions
    # services forget them on every credential change (see vigil.services.credential_cache)
    principals: CredentialCache[Any] = field(default_factory=lambda: CredentialCache(0))
    ws_session_check_seconds: float = 5.0  # how often a live feed re-checks its session
    validator_factory: Callable[[], FacePhotoValidator] | None = None
    _validator: FacePhotoValidator | None = None
    _cleanup: list[Callable[[], None]] = field(default_factory=list)
    _validator_lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def sighting_reviews(self) -> SightingReviewService:
        return SightingReviewService(self.context.db, self.context.cipher, self.bus)

    @cached_property
    def auth(self) -> AuthService:
        return AuthService(self.users, self.sessions, self.throttle)

    @cached_property
    def cameras(self) -> CameraControl:
        from vigil.services.camera_policy import SourcePolicy
        from vigil.services.cameras import CameraService

        timeout = self.settings.sources.open_timeout_seconds
        policy = SourcePolicy.from_settings(self.settings)
        return CameraControl(CameraService(self.context.db), self.supervisor, timeout, policy)

    @cached_property
    def authorizations(self) -> AuthorizationService:
        return AuthorizationService(self.context.db, self.bus)

    @cached_property
    def watchlists(self) -> WatchlistDesk:
        return WatchlistDesk(
            self.context.db,
            self.context.cipher,
            self.validate_photo,
            max_image_bytes=self.settings.max_image_bytes,
            bus=self.bus,
        )

    @cached_property
    def admin(self) -> AdminService:
        apply = self.supervisor.set_preview_blur if self.supervisor is not None else None
        return AdminService(
            self.context.db, self.settings.alerts_out, apply, cipher=self.context.cipher
        )

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self.context.db, self.settings)

    @cached_property
    def public_reports(self) -> PublicReportService:
        from vigil.accountability.signing import settings_signer

        signer = functools.cache(lambda: settings_signer(self.settings))
        return PublicReportService(self.context.db, self.settings, signer)

    def validate_photo(self, data: bytes, name: str) -> ValidatedFace:
        """Validate one enrollment photo. One at a time: model packs are not thread-safe."""
        with self._validator_lock:
            return self._get_validator().validate(data, name)

    def _get_validator(self) -> FacePhotoValidator:
        """The enrollment photo validator (loads the model pack on first use)."""
        if self._validator is None:
            if self.validator_factory is not None:
                self._validator = self.validator_factory()
            else:
                from vigil.services.enrollment import FacePhotoValidator

                s = self.settings
                self._validator = FacePhotoValidator.from_settings(self.context.pack, s)
        return self._validator

    def close(self) -> None:
        for fn in reversed(self._cleanup):
            fn()
        self._cleanup.clear()
        # Pending deliveries stay in the outbox; the next start or another process sends them.
        self.outbound.stop(OUTBOUND_DRAIN_SECONDS)
        if self.owns_context:
            self.context.close()
