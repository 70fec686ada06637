"""The one polling helper for tests that wait on threads, processes or servers.

The timeout only stops a broken test from hanging: it is generous, and no test asserts how fast
anything happens (speed is measured by the benchmark scripts, never by tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_TIMEOUT = 120.0
DEFAULT_INTERVAL = 0.05


def wait_for(
    condition: Callable[[], object],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it returns something true.

    ``what`` names what is awaited; after ``timeout`` seconds the test fails with
    "gave up waiting for <what> after <timeout> s".
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError(f"timeout and interval must be positive, got {timeout} and {interval}")
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)
