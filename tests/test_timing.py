"""The shared timing helpers: the unit scales, and ``wait_until`` returns or fails in time."""

from __future__ import annotations

import itertools
import time

import pytest

from tests import timing


def test_ms_is_a_millisecond_times_the_factor(monkeypatch):
    import importlib

    monkeypatch.setenv("AGENTSOAK_TEST_MS", "3")
    try:
        assert importlib.reload(timing).MS == pytest.approx(0.003)
    finally:
        monkeypatch.delenv("AGENTSOAK_TEST_MS")
        importlib.reload(timing)
    assert timing.MS == pytest.approx(0.001)


def test_wait_until_returns_the_first_truthy_value():
    calls = itertools.count(1)
    assert timing.wait_until(lambda: (n := next(calls)) >= 3 and n, 5, interval=0.001) == 3


def test_wait_until_fails_after_the_timeout_naming_the_condition():
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="not within 0.10 s: nothing yet"):
        timing.wait_until(lambda: False, 0.1, message="nothing yet")
    assert 0.1 <= time.monotonic() - t0 < 2
