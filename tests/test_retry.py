"""The one backoff policy (vigil.retry.Backoff): camera reconnects and outbound deliveries."""

from __future__ import annotations

import pytest

from vigil.retry import Backoff


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_restarts_from_the_first_delay_when_the_count_restarts() -> None:
    backoff = Backoff(initial_seconds=0.5, max_seconds=4.0, factor=3.0)
    assert [backoff.delay(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.0]
    assert backoff.delay(1) == 0.5  # the caller's attempt counter went back to 1


def test_jitter_adds_at_most_its_fraction_and_never_passes_the_cap() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=5.0, jitter=0.5)
    delays = [backoff.delay(2) for _ in range(200)]
    assert min(delays) >= 2.0
    assert max(delays) <= 3.0
    assert len(set(delays)) > 1  # really random
    assert all(backoff.delay(10) <= 5.0 for _ in range(50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_seconds": 0.0}, "0 < initial_seconds <= max_seconds"),
        ({"initial_seconds": 10.0, "max_seconds": 1.0}, "0 < initial_seconds <= max_seconds"),
        ({"factor": 0.5}, "factor >= 1"),
        ({"jitter": 2.0}, "jitter in [0, 1]"),
    ],
)
def test_bad_settings_are_refused_with_what_was_expected(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Backoff(**kwargs)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        Backoff().delay(0)
