"""Issue 13, Low: the live feed closes at logout at once, not at its next periodic re-check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from vigil.domain.enums import Role


@pytest.mark.timeout(60)
def test_feed_closes_at_logout_without_waiting_for_the_recheck(env: Any) -> None:
    env.state.ws_session_check_seconds = 3600.0  # the re-check cannot be what closes it
    client = env.client(Role.operator)
    # The socket closes before the pool joins, so a feed that never closes fails, not hangs.
    with ThreadPoolExecutor(1) as pool, client.websocket_connect("/ws/alerts") as ws:
        assert ws.receive_json()["live"] is True
        assert client.post("/api/auth/logout").status_code == 204
        message = pool.submit(ws.receive_json).result(timeout=5)
        assert message == {"type": "status", "live": False, "message": "session ended"}
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_other_sessions_of_the_user_keep_their_feed(env: Any) -> None:
    env.state.ws_session_check_seconds = 3600.0
    watcher, other = env.client(Role.operator), env.client(Role.operator)
    with watcher.websocket_connect("/ws/alerts") as ws:
        assert ws.receive_json()["live"] is True
        assert other.post("/api/auth/logout").status_code == 204
        ws.send_text("ping")
        assert ws.receive_json() == {"type": "pong"}
