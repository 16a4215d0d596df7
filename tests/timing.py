"""One timing unit for every test, and waiting on conditions instead of fixed sleeps.

``MS`` is one millisecond times ``AGENTSOAK_TEST_MS`` (default 1). Slack that measures the machine
rather than the code is written in ``MS`` (``0.1 + 300 * MS``), so a slow or loaded host widens it
with one variable: ``AGENTSOAK_TEST_MS=3 make test``. The defaults already hold on a loaded 2-core
machine. What the code promises (a 100 ms latency toxic is never faster than 100 ms) stays a
plain number: no factor may loosen it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["MS", "wait_until"]

MS = float(os.environ.get("AGENTSOAK_TEST_MS", "1.0")) / 1000.0

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, *, interval: float = 0.02,
               message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` s.

    ``timeout`` is in seconds; write it with ``MS`` when it is slack for the machine. The predicate
    is called at least once, and once more at the deadline, so a slow poll never misses the moment.
    """
    deadline = time.monotonic() + timeout
    for _ in range(1_000_000):  # bounded; the deadline ends it long before
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    raise AssertionError(f"not within {timeout:.2f} s: {message or getattr(predicate, '__name__', predicate)}")
