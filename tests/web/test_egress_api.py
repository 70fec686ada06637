"""``GET /api/egress``: admins and auditors see what may be reached and what was reached."""

from __future__ import annotations

from collections.abc import Callable

from conftest import Env
from vigil.accountability import audit
from vigil.domain.enums import Role

SINKS = {
    "alerts_out": {
        "webhooks": ["https://user:pw@hooks.example.org/in?token=t"],
        "webhook_secret": "a-webhook-secret-that-is-long-enough-0123",
        "mqtt_host": "broker.city.local",
    },
    "cameras": [{"name": "gate", "url": "rtsp://u:p@10.0.0.7/s"}],
}


def test_admins_and_auditors_see_the_endpoints(env_factory: Callable[..., Env]) -> None:
    env = env_factory(**SINKS)
    with env.context.db.write() as s:
        details = {"channel": "webhook", "destination": "https://hooks.example.org/in"}
        audit.record(s, actor="system", action="alert.outbound", target="alert:1", details=details)
    for role in (Role.admin, Role.auditor):
        r = env.client(role).get("/api/egress")
        assert r.status_code == 200, r.text
        body = r.json()
        kinds = {(e["kind"], e["endpoint"]) for e in body["allowed"]}
        assert ("webhook", "https://hooks.example.org/in") in kinds
        assert ("mqtt", "broker.city.local:1883") in kinds
        assert ("camera", "rtsp://10.0.0.7/s") in kinds
        assert any(kind == "database" for kind, _ in kinds)
        assert "pw@" not in r.text and "token=" not in r.text and "u:p@" not in r.text
        (hook,) = body["reached"]
        assert (hook["kind"], hook["count"], hook["failed"]) == ("webhook", 1, 0)


def test_operators_and_supervisors_are_refused(env: Env) -> None:
    for role in (Role.operator, Role.supervisor):
        assert env.client(role).get("/api/egress").status_code == 403
