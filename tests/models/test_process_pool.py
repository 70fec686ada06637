"""WorkerPool with a fake handler at the seam: replies, errors, crashes, overlap, stopping.

The fake handler runs in real worker processes (spawned), so crashes and pipes are real; it is
built by :func:`fake_handler` (module level, so that the workers can import it).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from vigil.errors import ModelError
from vigil.models.process_pool import MAX_WORKERS, WorkerPool


class FakeHandler:
    def __init__(self, barrier: Barrier | None, marks: Path | None) -> None:
        self.barrier = barrier
        self.marks = marks

    def handle(self, request: tuple[str, object]) -> object:
        verb, arg = request
        if verb == "echo":
            return arg
        if verb == "pid":
            return os.getpid()
        if verb == "fail":
            raise ValueError(f"bad input {arg}")
        if verb == "crash":
            os._exit(3)
        if verb == "crash_once":  # dies the first time only (a mark file remembers)
            assert self.marks is not None
            mark = self.marks / str(arg)
            if not mark.exists():
                mark.touch()
                os._exit(4)
            return "done"
        if verb == "meet":  # returns only once two calls are in flight at the same time
            assert self.barrier is not None
            self.barrier.wait(timeout=60)
            return "met"
        raise AssertionError(verb)


def fake_handler(barrier: Barrier | None = None, marks: Path | None = None) -> FakeHandler:
    return FakeHandler(barrier, marks)


def fake_refusing_to_start() -> FakeHandler:
    raise RuntimeError("model file missing")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def pool(tmp_path: Path):
    pool = WorkerPool("fake", functools.partial(fake_handler, None, tmp_path), 2)
    yield pool
    pool.close()


def test_a_call_is_answered_by_a_worker_process(pool: WorkerPool) -> None:
    assert pool.call(("echo", {"a": [1, 2]})) == {"a": [1, 2]}
    assert pool.call(("pid", None)) in pool.pids()
    assert os.getpid() not in pool.pids()
    assert pool.stats().calls == 2


def test_a_handler_error_is_a_model_error_and_the_worker_lives_on(pool: WorkerPool) -> None:
    pids = pool.pids()
    with pytest.raises(ModelError, match="ValueError: bad input 7"):
        pool.call(("fail", 7))
    assert pool.call(("echo", 1)) == 1
    assert pool.pids() == pids
    assert pool.problem() is None


def test_a_dead_worker_is_replaced_and_its_request_sent_again(pool: WorkerPool) -> None:
    before = set(pool.pids())
    assert pool.call(("crash_once", "a")) == "done"  # nothing lost
    assert pool.stats().restarts == 1
    problem = pool.problem()
    assert problem is not None and "exit code 4" in problem and "restarted" in problem
    assert len(set(pool.pids()) - before) == 1
    assert pool.call(("echo", 2)) == 2


def test_a_request_that_kills_two_workers_is_refused_loudly(pool: WorkerPool) -> None:
    with pytest.raises(ModelError, match="two model workers in a row"):
        pool.call(("crash", None))
    assert pool.stats().restarts == 2
    assert pool.call(("echo", 3)) == 3  # the pool still works


def test_two_callers_are_in_flight_at_once(tmp_path: Path) -> None:
    """The barrier in the workers lets a call return only while another one is in flight: a
    pool that served one call at a time would break it (60 s) and fail this test."""
    import multiprocessing

    barrier = multiprocessing.get_context("spawn").Barrier(2)
    pool = WorkerPool("fake", functools.partial(fake_handler, barrier, tmp_path), 2)
    try:
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(pool.call(("meet", None))))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert results == ["met", "met"]
        assert pool.stats().max_in_flight == 2
    finally:
        pool.close()


def test_one_worker_serves_one_call_at_a_time(tmp_path: Path) -> None:
    pool = WorkerPool("fake", functools.partial(fake_handler, None, tmp_path), 1)
    try:
        threads = [threading.Thread(target=pool.call, args=(("echo", i),)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert pool.stats().calls == 6
        assert pool.stats().max_in_flight == 1
    finally:
        pool.close()


def test_close_stops_every_worker_and_later_calls_fail(tmp_path: Path) -> None:
    pool = WorkerPool("fake", functools.partial(fake_handler, None, tmp_path), 2)
    pids = pool.pids()
    assert all(_alive(p) for p in pids)
    pool.close()
    pool.close()  # idempotent
    assert not any(_alive(p) for p in pids)
    with pytest.raises(ModelError, match="stopped"):
        pool.call(("echo", 1))


def test_a_worker_that_cannot_start_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="could not start: RuntimeError: model file missing"):
        WorkerPool("fake", fake_refusing_to_start, 1)


@pytest.mark.parametrize("workers", [0, MAX_WORKERS + 1])
def test_worker_count_is_bounded(workers: int) -> None:
    with pytest.raises(ValueError, match=f"workers must be 1 to {MAX_WORKERS}"):
        WorkerPool("fake", fake_handler, workers)


ORPHAN_SCRIPT = """
import functools, os, sys
sys.path.insert(0, sys.argv[1])
from test_process_pool import fake_handler
from vigil.models.process_pool import WorkerPool
if __name__ == "__main__":
    pool = WorkerPool("fake", functools.partial(fake_handler), 2)
    print(" ".join(map(str, pool.pids())), flush=True)
    os._exit(9)  # killed outright: no close(), no atexit
"""


def test_workers_leave_when_their_parent_dies_without_closing(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    deadline = time.monotonic() + 30  # a bound for the wait, not a speed assertion
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
