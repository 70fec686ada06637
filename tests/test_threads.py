"""vigil.threads.BackgroundLoop: the one primitive for background threads."""

from __future__ import annotations

import threading

import pytest

from vigil.threads import BackgroundLoop


def test_stop_wakes_a_sleeping_body_and_joins() -> None:
    woke = threading.Event()

    def body() -> None:
        if loop.sleep(60):  # would take a minute without the stop
            woke.set()

    loop = BackgroundLoop("test-sleeper", body)
    loop.start()
    assert loop.running and loop.started and not loop.stopping
    assert loop.stop(timeout=5)
    assert woke.is_set()
    assert not loop.running and loop.stopping


def test_start_twice_while_running_is_refused_and_restart_after_stop_runs_again() -> None:
    runs: list[str] = []

    def body() -> None:
        runs.append(threading.current_thread().name)
        loop.sleep(60)

    loop = BackgroundLoop("test-restart", body)
    loop.start()
    with pytest.raises(RuntimeError, match="already running"):
        loop.start()
    loop.stop(5)
    loop.start()  # the stop event is cleared for the new run
    assert not loop.stopping
    loop.stop(5)
    assert runs == ["test-restart", "test-restart"]


def test_join_from_the_loop_thread_does_not_deadlock() -> None:
    seen: list[bool] = []

    def body() -> None:
        seen.append(loop.in_loop_thread)
        seen.append(loop.stop(timeout=5))  # a body may stop itself

    loop = BackgroundLoop("test-self-stop", body)
    loop.start()
    assert loop.join(5)
    assert seen == [True, False]


def test_join_and_stop_before_start_are_harmless() -> None:
    loop = BackgroundLoop("test-never", lambda: None)
    assert loop.join(0.1) and loop.stop(0.1)
    assert not loop.started and not loop.running


def test_periodic_runs_every_interval_and_survives_a_failing_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    done = threading.Event()

    def action() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("first round breaks")
        if len(calls) >= 3:
            done.set()

    loop = BackgroundLoop.periodic("test-periodic", action, 0.01).start()
    assert done.wait(10)
    assert loop.stop(5)
    assert calls[:3] == [0, 1, 2]
    assert "test-periodic: a round failed" in caplog.text


@pytest.mark.parametrize(
    ("name", "interval", "message"),
    [("", 1.0, "thread name is required"), ("x", 0.0, "interval must be positive")],
)
def test_bad_arguments_say_what_is_wrong(name: str, interval: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackgroundLoop.periodic(name, lambda: None, interval)
