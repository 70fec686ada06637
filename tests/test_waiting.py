"""tests/waiting.py: the one polling helper returns once the condition holds and names what it
awaited when it gives up."""

from __future__ import annotations

import itertools

import pytest

from waiting import wait_for


def test_returns_once_the_condition_holds() -> None:
    calls = itertools.count(1)
    wait_for(lambda: next(calls) >= 3, "the third call", timeout=5, interval=0.001)
    assert next(calls) == 4  # polled exactly until it held, then stopped


def test_names_what_it_awaited_on_timeout() -> None:
    with pytest.raises(AssertionError, match=r"gave up waiting for the moon after 0\.05 s"):
        wait_for(lambda: False, "the moon", timeout=0.05, interval=0.01)


@pytest.mark.parametrize(("timeout", "interval"), [(0, 0.1), (1, 0), (-1, 0.1)])
def test_refuses_a_non_positive_timeout_or_interval(timeout: float, interval: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        wait_for(lambda: True, "anything", timeout=timeout, interval=interval)
