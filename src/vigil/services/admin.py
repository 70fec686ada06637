"""What administrators and auditors read and change beside users: the audit log, the runtime
settings (preview blur, applied to the running cameras at once) and where confirmed alerts go."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.accountability.crypto import DataCipher
from vigil.config import AlertsOutConfig
from vigil.db.session import Database
from vigil.services.audit_log import AuditEntry, AuditFilter, search_audit_resolved
from vigil.services.outbound import safe_destination
from vigil.services.settings_store import get_setting, set_setting

PREVIEW_BLUR_KEY = "preview.blur"


@dataclass(frozen=True, slots=True)
class OutboundView:
    """Where confirmed alerts are sent; webhook credentials and queries removed."""

    webhooks: tuple[str, ...]
    webhook_signed: bool
    mqtt_host: str | None
    mqtt_port: int
    mqtt_topic: str


def load_preview_blur(db: Database) -> bool:
    return get_setting(db, PREVIEW_BLUR_KEY, "on") != "off"


class AdminService:
    def __init__(
        self,
        db: Database,
        alerts_out: AlertsOutConfig,
        apply_blur: Callable[[bool], None] | None = None,
        *,
        cipher: DataCipher,
    ) -> None:
        self.db = db
        self.cipher = cipher  # resolves subjects' pseudonymous references for auditors
        self.alerts_out = alerts_out
        self.apply_blur = apply_blur

    def audit(self, f: AuditFilter) -> Sequence[AuditEntry]:
        """Newest first, each record with the subjects its references stand for."""
        return search_audit_resolved(self.db, self.cipher, f)

    def preview_blur(self) -> bool:
        return load_preview_blur(self.db)

    def set_preview_blur(self, on: bool, *, actor: str) -> bool:
        """Store the setting (audited) and apply it to the running cameras."""
        set_setting(self.db, PREVIEW_BLUR_KEY, "on" if on else "off", actor=actor)
        if self.apply_blur is not None:
            self.apply_blur(on)
        return on

    def outbound(self) -> OutboundView:
        cfg = self.alerts_out
        return OutboundView(
            webhooks=tuple(safe_destination(u) for u in cfg.webhooks),
            webhook_signed=cfg.webhook_secret is not None,
            mqtt_host=cfg.mqtt_host,
            mqtt_port=cfg.mqtt_port,
            mqtt_topic=cfg.mqtt_topic,
        )
