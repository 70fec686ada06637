"""``vigil egress``: what a deployment may reach, and what it reached.

A running Vigil opens outbound connections only to its configured cameras, webhook and MQTT
sinks, its database and its Ray cluster (README "What Vigil connects to"). ``allowed`` lists those
endpoints from the settings; ``reached`` counts what the deployment actually reached, from the
audit (``alert.outbound`` / ``alert.outbound_failed``) and the camera sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from vigil.config import Settings
from vigil.db.session import Database
from vigil.repositories.egress import EgressRepo
from vigil.services.outbound import safe_destination


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint the configuration allows: ``kind`` (camera, webhook, mqtt, database, ray)."""

    kind: str
    name: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class Reached:
    """One endpoint the deployment reached: how often and when last."""

    kind: str
    endpoint: str
    count: int
    failed: int
    last: datetime


def camera_endpoint(url: str) -> str:
    """A camera URL without credentials or query; a file path stays a (local) path."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or not parts.hostname:
        return f"file {url}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def database_endpoint(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"file {parsed.database or ':memory:'} (sqlite: no connection)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()}://{parsed.host or 'local socket'}{port}"


def allowed(settings: Settings) -> list[Endpoint]:
    """Every endpoint this deployment's configuration lets it reach."""
    out = [Endpoint("camera", c.name, camera_endpoint(c.url)) for c in settings.cameras]
    sinks = settings.alerts_out
    out += [Endpoint("webhook", "alerts_out", safe_destination(u)) for u in sinks.webhooks]
    if sinks.mqtt_host:
        out.append(Endpoint("mqtt", sinks.mqtt_topic, f"{sinks.mqtt_host}:{sinks.mqtt_port}"))
    out.append(Endpoint("database", "database_url", database_endpoint(settings.db_url)))
    if settings.runtime.engine == "ray" and settings.runtime.address:
        out.append(Endpoint("ray", settings.runtime.namespace, settings.runtime.address))
    return out


def reached(db: Database, settings: Settings) -> list[Reached]:
    """Endpoints reached, from the audit (deliveries) and the camera sessions (camera runs)."""
    totals: dict[tuple[str, str], tuple[int, int, datetime]] = {}
    with db.read() as s:
        repo = EgressRepo(s)
        for event in repo.deliveries():
            key = (str(event.details.get("channel", "?")), str(event.details.get("destination")))
            n, failed, last = totals.get(key, (0, 0, event.ts))
            failed += event.action != "alert.outbound"
            totals[key] = (n + 1, failed, max(last, event.ts))
        runs = repo.camera_runs()
    urls = {c.name: camera_endpoint(c.url) for c in settings.cameras}
    broker = settings.alerts_out
    if broker.mqtt_host:  # the audit names the topic; the broker is the configured one
        where = f"{broker.mqtt_host}:{broker.mqtt_port}"
        totals = {
            (kind, f"{where} topic {dest}" if kind == "mqtt" else dest): value
            for (kind, dest), value in totals.items()
        }
    out = [
        Reached(kind, dest, n, failed, last) for (kind, dest), (n, failed, last) in totals.items()
    ]
    out += [
        Reached("camera", f"{name} ({urls.get(name, 'no longer configured')})", n, 0, last)
        for name, n, last in runs
    ]
    return sorted(out, key=lambda r: (r.kind, r.endpoint))


@dataclass(frozen=True, slots=True)
class EgressReport:
    allowed: list[Endpoint]
    reached: list[Reached]


class EgressService:
    """What the deployment may reach and what it reached (``vigil egress``, ``GET /api/egress``)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def report(self) -> EgressReport:
        return EgressReport(allowed(self.settings), reached(self.db, self.settings))
