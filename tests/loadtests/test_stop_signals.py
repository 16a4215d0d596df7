"""Stop signals are heard even when SIGINT was inherited ignored, and never raise mid-step."""

from __future__ import annotations

import os
import signal

import pytest

from loadtests.stop_signals import Interrupted, StopSignals
from tests.timing import wait_until


def test_sigint_inherited_ignored_is_still_heard_and_restored_afterwards() -> None:
    """A shell's background job starts with SIGINT ignored; installed, we hear it; removed, as before."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals() as stops:
            os.kill(os.getpid(), signal.SIGINT)  # handled, not raised
            wait_until(lambda: stops.count == 1, 2.0, message="SIGINT recorded")
            os.kill(os.getpid(), signal.SIGTERM)
            wait_until(lambda: stops.count == 2, 2.0, message="SIGTERM recorded")
            assert stops.received == ["SIGINT", "SIGTERM"] and stops.reason() == "stopped by SIGINT (Ctrl-C)"
            with pytest.raises(Interrupted, match="stopped by SIGINT"):
                stops.check()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_no_signal_no_stop() -> None:
    with StopSignals() as stops:
        stops.check()
        assert stops.first is None and stops.count == 0
