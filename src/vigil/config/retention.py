"""Settings of what happens to records: how long they are kept, where confirmed alerts go."""

from __future__ import annotations

from pydantic import Field, SecretStr

from vigil.config.base import StrictSection


class RetentionConfig(StrictSection):
    candidate_alert_days: int = Field(30, ge=1, le=3650, description="unreviewed candidate alerts")
    rejected_alert_days: int = Field(30, ge=1, le=3650, description="rejected (false) alerts")
    confirmed_alert_days: int = Field(180, ge=1, le=3650, description="confirmed alerts")
    crop_days: int = Field(30, ge=1, le=3650, description="alert face crops")
    count_days: int = Field(730, ge=1, le=3650, description="aggregate per-minute face counts")
    audit_days: int = Field(183, ge=183, le=36500, description="audit log (at least 6 months)")
    run_every_minutes: int = Field(
        60, ge=1, le=1440, description="how often the retention job runs"
    )


class AlertsOutConfig(StrictSection):
    webhooks: list[str] = Field(default_factory=list, description="URLs receiving confirmed alerts")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for webhook bodies")
    mqtt_host: str | None = Field(None, description="MQTT broker host for confirmed alerts")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_topic: str = Field("vigil/alerts/confirmed", description="MQTT topic")
