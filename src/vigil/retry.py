"""The one backoff policy for everything that retries: camera reconnects and outbound deliveries.

Delays come from tenacity's wait strategies (exponential, capped, with a little random jitter so
that many cameras or deliveries that failed together do not retry in lock-step). Callers that
keep their own attempt counter (a camera's reconnect loop, a delivery row in the outbox) ask
:meth:`Backoff.delay` for the wait before the next try.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import wait_exponential, wait_random


class _Attempt:
    """The part of tenacity's RetryCallState that its wait strategies read."""

    __slots__ = ("attempt_number",)

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``initial_seconds`` x ``factor`` ** (attempt - 1), capped.

    ``jitter`` adds up to that fraction of the delay at random (0 = deterministic).
    """

    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (0 < self.initial_seconds <= self.max_seconds):
            raise ValueError(
                f"Backoff: expected 0 < initial_seconds <= max_seconds, got "
                f"{self.initial_seconds} and {self.max_seconds}"
            )
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff: expected factor >= 1 and jitter in [0, 1], got {self}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (counting from 1)."""
        if attempt < 1:
            raise ValueError(f"Backoff.delay: attempt counts from 1, got {attempt}")
        state = _Attempt(attempt)
        base = wait_exponential(
            multiplier=self.initial_seconds, exp_base=self.factor, max=self.max_seconds
        )(state)  # type: ignore[arg-type]
        if self.jitter:
            base += wait_random(0, base * self.jitter)(state)  # type: ignore[arg-type]
        return float(min(base, self.max_seconds))
