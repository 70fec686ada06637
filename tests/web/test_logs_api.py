"""GET /api/logs: this server's recent log records for admins, auditors and maintainers.

The buffer is bounded, installed by create_app and removed when the app closes; reading it is
audited; and what it shows carries no personal data: a real flow (an enrollment through the API,
alerts stored by the pipeline's AlertStore, two reviews, a failed webhook delivery, a candidate
discarded by the pipeline's sink, throttled logins) leaves no subject name, authorization
reference, watchlist name, photo file name or username in the view.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from conftest import make_candidate, store_alert
from vigil.domain.enums import Role
from vigil.imaging import encode_jpeg
from vigil.runtime.runner import StoreSink
from vigil.services.alerts import AlertStore
from vigil.services.logs import LogBuffer, LogQuery, redact

probe = logging.getLogger("vigil.tests.logs")
HOOK_SECRET = "hook-secret-" + "x" * 32


def _logs(env: Any, role: Role = Role.maintainer, **params: object) -> list[dict[str, Any]]:
    r = env.client(role).get("/api/logs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_maintainer_reads_the_servers_logs_newest_first(env: Any) -> None:
    probe.info("camera gate: reconnecting in 2 s")
    probe.error("camera gate: stream ended")
    lines = _logs(env, level="INFO")
    mine = [line for line in lines if line["logger"] == "vigil.tests.logs"]
    assert [line["message"] for line in mine] == [
        "camera gate: stream ended",
        "camera gate: reconnecting in 2 s",
    ]
    assert set(mine[0]) == {"time", "level", "logger", "message", "exception"}
    assert mine[0]["level"] == "ERROR"
    errors = _logs(env, level="ERROR")
    assert "camera gate: reconnecting in 2 s" not in [line["message"] for line in errors]
    assert len(_logs(env, Role.admin, level="DEBUG", limit=1)) == 1
    later = _logs(env, Role.auditor, since=mine[0]["time"])
    assert "camera gate: stream ended" not in [line["message"] for line in later]


@pytest.mark.parametrize("role", [Role.operator, Role.supervisor])
def test_roles_without_logs_are_refused(env: Any, role: Role) -> None:
    assert env.client(role).get("/api/logs").status_code == 403


def test_every_read_is_audited(env: Any) -> None:
    _logs(env, level="WARNING", limit=50)
    events = env.client(Role.auditor).get("/api/audit", params={"action": "logs.view"}).json()
    (event,) = [e for e in events if e["actor"] == "maintainer"]
    assert event["target"] == "logs"
    assert event["details"]["level"] == "WARNING" and event["details"]["limit"] == 50
    assert event["details"]["credential"].startswith("session:")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"level": "LOUD"}, "level"), ({"limit": 0}, "limit"), ({"since": "yesterday"}, "since")],
)
def test_bad_filters_name_the_field(env: Any, params: dict[str, object], field: str) -> None:
    r = env.client(Role.maintainer).get("/api/logs", params=params)
    assert r.status_code == 422
    assert field in r.json()["message"]


def test_the_buffer_is_bounded_and_leaves_with_the_app(env_factory: Any) -> None:
    env = env_factory(server={"log_buffer_records": 100})
    for i in range(250):
        probe.warning("tick %d", i)
    buffer = env.state.logs.buffer
    lines = buffer.lines(LogQuery(level="DEBUG", limit=1000))
    assert len(lines) == 100 and lines[0].message == "tick 249"
    assert buffer in logging.getLogger().handlers
    env.state.close()
    assert buffer not in logging.getLogger().handlers  # installed by create_app, removed on close
    probe.warning("after close")
    assert buffer.lines(LogQuery(limit=1))[0].message == "tick 249"


@pytest.mark.parametrize("records", [99, 100_001])
def test_buffer_size_has_bounds(env_factory: Any, records: int) -> None:
    from vigil.errors import ConfigError

    with pytest.raises(ConfigError, match="log_buffer_records"):
        env_factory(server={"log_buffer_records": records})


def test_records_keep_no_secrets_tracebacks_or_access_lines() -> None:
    buffer = LogBuffer(100, "DEBUG")
    record = logging.LogRecord(
        "vigil.x",
        logging.ERROR,
        __file__,
        1,
        "open %s failed",
        ("rtsp://cam:pw@10.0.0.5/s?k=1",),
        None,
    )
    try:
        raise ValueError("row ('Jane Roe', 'CASE-7') violates a constraint")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    buffer.handle(record)
    for name, level in (("uvicorn.access", logging.INFO), ("httpx", logging.INFO)):
        buffer.handle(logging.LogRecord(name, level, __file__, 1, "GET /x?q=Jane", (), None))
    (line,) = buffer.lines(LogQuery(level="DEBUG"))
    assert line.message == "open rtsp://10.0.0.5/s failed"
    assert line.exception == "ValueError" and "Jane" not in repr(line)
    assert redact("x" * 5000).endswith(" …") and len(redact("x" * 5000)) < 2100


def _enroll_through_the_api(env: Any) -> dict[str, str]:
    sup = env.client(Role.supervisor)
    names = {
        "reference": "LOGCASE 2026/0099",
        "watchlist": "logs-probe-watchlist",
        "subject": "Adaeze Okonkwo-Logprobe",
        "photo": "adaeze-okonkwo-private.jpg",
    }
    auth = {
        "reference": names["reference"],
        "purpose": "missing_person",
        "legal_basis": "Missing Persons Act s.12",
        "authority": "District Court of Example",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    assert sup.post("/api/authorizations", json=auth).status_code == 201
    wl = sup.post(
        "/api/watchlists",
        json={"name": names["watchlist"], "authorization_reference": names["reference"]},
    )
    assert wl.status_code == 201, wl.text
    photo = encode_jpeg(np.full((64, 64, 3), 90, np.uint8))
    files = [("photos", (names["photo"], photo, "image/jpeg"))]
    url = f"/api/watchlists/{wl.json()['id']}/subjects"
    enrolled = sup.post(url, data={"name": names["subject"]}, files=files)
    assert enrolled.status_code == 201, enrolled.text
    return names


def _names_of(env: Any, alert_id: int) -> list[str]:
    alert = env.client(Role.admin).get(f"/api/alerts/{alert_id}").json()
    return [alert["subject_name"], alert["watchlist"], alert["authorization_reference"]]


def test_a_real_flow_leaves_no_personal_data_in_the_logs_view(env_factory: Any) -> None:
    env = env_factory(
        server={"log_buffer_level": "DEBUG"},
        alerts_out={
            "webhooks": ["http://hookuser:hookpass@127.0.0.1:9/hook?token=t0ps3cret"],
            "webhook_secret": HOOK_SECRET,
        },
    )
    private = list(_enroll_through_the_api(env).values())
    # a confirmed alert, then its delivery fails (nothing listens on port 9) and is retried
    confirmed = store_alert(env, "gate")
    private += _names_of(env, confirmed)
    for role in (Role.operator, Role.supervisor):
        r = env.client(role).post(f"/api/alerts/{confirmed}/reviews", json={"decision": "confirm"})
        assert r.status_code in (200, 201), r.text
    env.state.outbound.deliver_due()
    # a candidate from before its authorization began: the pipeline's sink discards it
    candidate = make_candidate(env, "gate")
    entry = candidate.match.entry
    private += [entry.subject_name, entry.watchlist_name, entry.authorization_reference]
    early = replace(candidate, first_seen=entry.valid_from - timedelta(minutes=5))
    store = AlertStore(env.context.db, env.context.cipher, env.settings, env.bus)
    assert StoreSink(store).save(early) is None
    # throttled logins under a username of their own
    private += ["logs-probe-username", "testclient"]  # the username and the client's address
    for _ in range(25):
        env.client().post(
            "/api/auth/login", json={"username": "logs-probe-username", "password": "wrong-pass"}
        )

    # read with an API token: logins from this test client's address are throttled now
    reader = env.token_client(Role.maintainer)
    lines = reader.get("/api/logs", params={"level": "DEBUG", "limit": 1000}).json()
    text = "\n".join(f"{line['logger']} {line['message']} {line['exception']}" for line in lines)
    # the flow was logged: the view is not empty by accident
    assert "candidate discarded" in text
    assert "retrying webhook http://127.0.0.1:9/hook" in text
    assert "a login was throttled" in text
    leaked = [word for word in [*private, "hookpass", "t0ps3cret"] if word.lower() in text.lower()]
    assert leaked == [], f"the logs view shows {leaked}:\n{text}"
