"""The live alert feed: a WebSocket at ``/ws/alerts`` pushing every AlertEvent as JSON.

Each message is ``{"type": "alert", "event": <kind>, "alert_id": ..., "alert": <AlertPublic>,
"at": ..., "captured_monotonic": ..., "first_shot_monotonic": ..., "sent_monotonic": ...}``:
the same public shape as ``GET /api/alerts/{id}``, so the dashboard renders from the message
alone. A ``purged`` event has ``"alert": null``.

Who may listen: logged-in *reviewers* only (operator, supervisor, admin), authenticated by the
session cookie (or an API token), with their one-time password already changed. Auditors are
refused on purpose: they check the record after the fact (audit log, reports) and have no need to
see who is being matched right now, so live candidate identities go to the fewest people.
Anonymous or refused connections are closed with code 4401 / 4403 before any data is sent, and so
is a browser connection whose Origin is another site.

Threading: AlertBus callbacks run on the pipeline thread and must not block. The callback only
hands the event to the server's event loop with ``loop.call_soon_threadsafe`` into a bounded
``asyncio.Queue``; a client too slow to keep up loses the oldest events (counted, and told).
The subscription ends when the socket closes, and the feed closes at once when its session is
logged out in this process (:meth:`SessionService.watch`); other ends of the session (another
process, expiry, deactivation) are seen by a re-check every ``ws_session_check_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from vigil.domain.events import AlertEvent
from vigil.services.alerts import AlertBus
from vigil.web.deps import (
    REVIEWERS,
    Sessions,
    get_bus,
    get_session_check_seconds,
    same_origin,
    websocket_user,
)

log = logging.getLogger(__name__)
router = APIRouter()
Bus = Annotated[AlertBus, Depends(get_bus)]
SessionCheck = Annotated[float, Depends(get_session_check_seconds)]

QUEUE_SIZE = 256
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def event_json(event: AlertEvent, *, sent_monotonic: float | None = None) -> dict[str, Any]:
    """The wire form of one event (times as ISO 8601 UTC)."""
    return {
        **event.wire(),
        "sent_monotonic": time.monotonic() if sent_monotonic is None else sent_monotonic,
    }


class EventRelay:
    """Bridges the pipeline thread to one socket's event loop; verbs ``push`` and ``get``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = QUEUE_SIZE) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[AlertEvent] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def push(self, event: AlertEvent) -> None:
        """Called on the publishing thread: never blocks, never touches the queue directly."""
        with contextlib.suppress(RuntimeError):  # loop already closed: the socket is gone
            self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: AlertEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> AlertEvent:
        return await self.queue.get()


async def _pump(websocket: WebSocket, relay: EventRelay) -> None:
    reported = 0
    while True:
        event = await relay.get()
        payload = event_json(event)
        if relay.dropped != reported:
            payload["dropped_before"] = relay.dropped - reported
            reported = relay.dropped
        await websocket.send_json(payload)


async def _watch_session(websocket: WebSocket, every: float) -> None:
    """End the feed when the session ends (logout, expiry, user deactivated or demoted)."""
    while True:
        await asyncio.sleep(every)
        principal = websocket_user(websocket)
        if principal is None or principal.role not in REVIEWERS:
            await websocket.send_json({"type": "status", "live": False, "message": "session ended"})
            return


async def _until_ended(websocket: WebSocket, ended: asyncio.Event) -> None:
    """End the feed as soon as this process ends its session (logout)."""
    await ended.wait()
    await websocket.send_json({"type": "status", "live": False, "message": "session ended"})


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed; answers 'ping' with 'pong'."""
    while True:
        message = await websocket.receive_text()
        if message == "ping":
            await websocket.send_json({"type": "pong"})


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):  # loop already closed: the socket is gone
        loop.call_soon_threadsafe(event.set)


def _nothing() -> None:
    return None


@router.websocket("/ws/alerts")
async def alerts_feed(
    websocket: WebSocket, bus: Bus, sessions: Sessions, check_every: SessionCheck
) -> None:
    if not same_origin(websocket):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="cross-site connection refused")
        return
    principal = websocket_user(websocket)
    if principal is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
        return
    if principal.role not in REVIEWERS:
        await websocket.close(
            code=CLOSE_FORBIDDEN, reason=f"the {principal.role.value} role gets no live alerts"
        )
        return
    await websocket.accept()
    loop = asyncio.get_running_loop()
    relay = EventRelay(loop)
    ended = asyncio.Event()
    unwatch = (
        sessions.watch(principal.session.session_id, lambda: _set_soon(loop, ended))
        if principal.session is not None
        else _nothing
    )
    unsubscribe = bus.subscribe(relay.push)
    await websocket.send_json({"type": "status", "live": True, "user": principal.username})
    tasks = [
        asyncio.create_task(_pump(websocket, relay)),
        asyncio.create_task(_drain_client(websocket)),
        asyncio.create_task(_watch_session(websocket, check_every)),
        asyncio.create_task(_until_ended(websocket, ended)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect):
                log.warning("alert feed of user %d ended: %s", principal.id, type(exc).__name__)
    finally:
        unsubscribe()
        unwatch()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await websocket.close()
