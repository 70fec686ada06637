"""K worker processes that run model calls off the calling process's GIL.

A model library that holds the GIL while it computes (dlib: about 125 ms per ResNet descriptor,
25-110 ms per HOG detection) serialises every camera thread of a process behind it. A
:class:`WorkerPool` moves those calls into ``workers`` separate processes: a caller borrows a
free worker, sends it one request over a pipe and waits for the reply; waiting on a pipe releases
the GIL, so other camera threads (and the web server) run meanwhile, and K callers compute at
once on K cores.

* Requests and replies are small pickled objects (face crops, not whole frames, for embedding).
* Processes are started with ``spawn`` (never ``fork`` from a threaded server), ignore SIGINT
  (Ctrl-C reaches the whole process group; the parent decides when they stop) and leave when
  their pipe closes, so a parent killed outright leaves no orphan. :meth:`WorkerPool.close`
  stops them (``vigil serve`` calls it on SIGTERM/SIGINT through ``AppContext.close``).
* A worker that dies is replaced by a fresh one and the request it held is sent once more (no
  silent loss); :meth:`WorkerPool.problem` then says which worker died and how, for the camera
  status. A request that kills its second worker too raises :class:`ModelError`.
* Shared counters (:class:`PoolStats`) count calls and the most calls ever in flight at once,
  measured inside the workers.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from vigil.errors import ModelError
from vigil.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_WORKERS = 16
START_TIMEOUT_SECONDS = 120.0  # loading models in a fresh process on a loaded machine
STOP_TIMEOUT_SECONDS = 5.0
_CALLS, _IN_FLIGHT, _MAX_IN_FLIGHT = range(3)


class Handler(Protocol):
    """What runs inside a worker process: one request in, one picklable reply out."""

    def handle(self, request: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Reply:
    value: Any = None
    error: str | None = None  # the handler raised: its message (the worker lives on)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters shared by the workers of a pool (measured inside the worker processes)."""

    workers: int
    calls: int  # requests handled
    in_flight: int  # requests being handled now
    max_in_flight: int  # the most requests ever handled at the same moment
    restarts: int  # workers replaced after they died


def _serve(conn: Connection, factory: Callable[[], Handler], counters: Any) -> None:
    """A worker process: build the handler, say ready, answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        handler = factory()
    except BaseException as exc:
        conn.send(_Reply(error=f"{type(exc).__name__}: {exc}"))
        return
    conn.send(_Reply(value="ready"))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone: leave, orphaned workers would hold memory for nothing
        if request is None:
            return
        with counters.get_lock():
            counters[_IN_FLIGHT] += 1
            counters[_MAX_IN_FLIGHT] = max(counters[_MAX_IN_FLIGHT], counters[_IN_FLIGHT])
        try:
            reply = _Reply(value=handler.handle(request))
        except Exception as exc:
            reply = _Reply(error=f"{type(exc).__name__}: {exc}")
        finally:
            with counters.get_lock():
                counters[_IN_FLIGHT] -= 1
                counters[_CALLS] += 1
        conn.send(reply)


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, name: str, factory: Callable[[], Handler], counters: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, factory, counters), name=name, daemon=True
        )
        self.process.start()
        child.close()  # else the parent never sees EOF when the worker dies

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            self.stop()
            raise ModelError(
                f"model worker {self.process.name} did not start within {timeout:.0f} s.",
                hint="the machine may be overloaded or out of memory; lower dlib.workers",
            )
        try:
            reply = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelError(
                f"model worker {self.process.name} stopped while starting "
                f"(exit code {self.process.exitcode}).",
                hint="check the server log; the machine may be out of memory",
            ) from exc
        if reply.error is not None:
            self.stop()
            raise ModelError(f"model worker {self.process.name} could not start: {reply.error}")

    def call(self, request: Any) -> _Reply:
        """Send one request and wait for its reply; raises _Died if the process died."""
        try:
            self.conn.send(request)
            reply: _Reply = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.process.join(STOP_TIMEOUT_SECONDS)
            raise _Died(self.process.exitcode) from exc
        return reply

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.conn.send(None)
        self.process.join(STOP_TIMEOUT_SECONDS)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_TIMEOUT_SECONDS)
        if self.process.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
            self.process.kill()
            self.process.join(STOP_TIMEOUT_SECONDS)
        self.conn.close()


class _Died(Exception):
    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"exit code {exitcode}")
        self.exitcode = exitcode


class WorkerPool:
    """``workers`` processes each running ``factory()``'s handler; :meth:`call` from any thread.

    ``factory`` must be picklable (a module-level function or a ``functools.partial`` of one):
    it is called in each worker process to build that worker's handler (load its models).
    """

    def __init__(self, name: str, factory: Callable[[], Handler], workers: int) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"WorkerPool: workers must be 1 to {MAX_WORKERS}, got {workers}")
        self.name = name
        self.size = workers
        self._factory = factory
        self._counters = multiprocessing.get_context("spawn").Array("q", 3)
        self._free: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._restarts = 0
        self._problem: str | None = None
        started = [self._new_worker(i) for i in range(workers)]
        try:
            for worker in started:
                worker.wait_ready(START_TIMEOUT_SECONDS)
        except BaseException:
            for worker in started:
                worker.stop()
            raise
        for worker in started:
            self._all.append(worker)
            self._free.put(worker)

    def _new_worker(self, index: int) -> _Worker:
        return _Worker(f"{self.name}-{index}", self._factory, self._counters)

    def call(self, request: Any) -> Any:
        """The handler's reply to ``request``; ModelError if the handler raised or the request
        killed two workers in a row. Waits (GIL released) while every worker is busy."""
        worker = self._borrow()
        try:
            for attempt in (1, 2):
                try:
                    reply = worker.call(request)
                    break
                except _Died as died:
                    worker = self._replace(worker, died)
                    if attempt == 2:
                        raise ModelError(
                            f"{self.name}: a request stopped two model workers in a row "
                            f"({died}); it was dropped and the workers were restarted.",
                            hint="check the server log and memory; the camera keeps running",
                        ) from died
        finally:
            self._free.put(worker)
        if reply.error is not None:
            raise ModelError(f"{self.name}: {reply.error}")
        return reply.value

    def _borrow(self) -> _Worker:
        while True:  # wakes once a second only to notice close(); never spins
            if self._closed:
                raise ModelError(
                    f"{self.name}: the model workers were stopped", hint="restart Vigil"
                )
            try:
                return self._free.get(timeout=1.0)
            except queue.Empty:
                continue

    def _replace(self, dead: _Worker, died: _Died) -> _Worker:
        """Start a fresh worker in place of a dead one and remember why, for the status."""
        with self._lock:
            if self._closed:
                raise ModelError(f"{self.name}: the model workers were stopped")
            self._restarts += 1
            self._problem = (
                f"model worker {dead.process.name} stopped unexpectedly ({died}) at "
                f"{utcnow():%H:%M:%S} UTC and was restarted ({self._restarts} restart(s) so far)"
            )
            index = self._all.index(dead)
        log.error("%s", self._problem)
        dead.conn.close()
        fresh = self._new_worker(index)
        fresh.wait_ready(START_TIMEOUT_SECONDS)
        with self._lock:
            self._all[index] = fresh
        return fresh

    def problem(self) -> str | None:
        """The last worker crash, in words (None if none happened)."""
        return self._problem

    def stats(self) -> PoolStats:
        with self._counters.get_lock():
            calls, in_flight, most = (int(self._counters[i]) for i in range(3))
        return PoolStats(self.size, calls, in_flight, most, self._restarts)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker (idempotent): each as soon as its current call is answered (up to
        a few seconds; then it is terminated). Calls still waiting get ModelError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all)
        stopped: set[int] = set()
        for _ in workers:
            try:
                worker = self._free.get(timeout=STOP_TIMEOUT_SECONDS)
            except queue.Empty:
                break
            worker.stop()
            stopped.add(id(worker))
        for worker in workers:
            if id(worker) not in stopped:  # still busy after the wait: end it
                worker.process.terminate()
                worker.process.join(STOP_TIMEOUT_SECONDS)
