"""The one way Vigil runs work in the background: :class:`BackgroundLoop`.

A background loop is a named daemon thread plus the event that asks it to stop. Its owner gives
it a body (a callable with no arguments) that runs until it returns; the body reads
:attr:`BackgroundLoop.stopping` and waits with :meth:`BackgroundLoop.sleep`, which wakes at once
when :meth:`BackgroundLoop.stop` is called. :meth:`BackgroundLoop.periodic` builds the common
case: call a function every N seconds, logging (never raising) its failures.

This module is low level on purpose (standard library only) so that every layer may use it:
sources (the decoder thread), runtime (camera runners), services (outbound delivery) and
accountability (signing and retention jobs).

    loop = BackgroundLoop("vigil-decode-cam1", self._run).start()
    ...  # in _run: ``while not loop.stopping: ...; loop.sleep(delay)``
    loop.stop(timeout=3.0)  # sets the event, then joins (never from the loop's own thread)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """A named daemon thread running ``body`` once, with a stop event it can wait on.

    ``start`` raises RuntimeError while the thread runs; after it ended (or was stopped) a new
    ``start`` runs the body again on a fresh thread with the stop event cleared.
    """

    def __init__(self, name: str, body: Callable[[], None]) -> None:
        if not name:
            raise ValueError("BackgroundLoop: a thread name is required (it shows in py-spy/logs)")
        self.name = name
        self._body = body
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> BackgroundLoop:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"{self.name}: already running; stop it first")
            self._stop.clear()
            self._thread = threading.Thread(target=self._body, name=self.name, daemon=True)
            self._thread.start()
        return self

    @property
    def started(self) -> bool:
        """True once :meth:`start` has been called (even if the body has ended since)."""
        return self._thread is not None

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` (or :meth:`request_stop`) was called; the body should return."""
        return self._stop.is_set()

    @property
    def in_loop_thread(self) -> bool:
        return self._thread is threading.current_thread()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until a stop is requested; True if a stop was requested."""
        return self._stop.wait(max(0.0, seconds))

    def request_stop(self) -> None:
        """Ask the body to return, without waiting for it."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has (or never started).

        Called from the loop's own thread it returns False at once (a thread cannot join itself).
        """
        thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            return False
        thread.join(timeout)
        return not thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Request a stop and wait up to ``timeout`` s for the thread; True if it has ended."""
        self.request_stop()
        return self.join(timeout)

    @classmethod
    def periodic(
        cls,
        name: str,
        action: Callable[[], None],
        interval: float,
        *,
        first_delay: float = 0.0,
    ) -> BackgroundLoop:
        """A loop that calls ``action`` every ``interval`` s (first after ``first_delay``).

        A failing round is logged with its traceback and the next round runs as planned: a
        periodic job must not die silently. Not started: call :meth:`start`.
        """
        if interval <= 0:
            raise ValueError(f"BackgroundLoop.periodic: interval must be positive, got {interval}")

        def body() -> None:
            if loop.sleep(first_delay):
                return
            while not loop.stopping:
                try:
                    action()
                except Exception:
                    log.exception("%s: a round failed; retrying in %g s", name, interval)
                loop.sleep(interval)

        loop = cls(name, body)
        return loop
