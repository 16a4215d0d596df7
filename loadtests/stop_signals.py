"""How ``agentsoak run`` hears that it must stop: SIGINT or SIGTERM, from a terminal or anyone else.

While a :class:`StopSignals` is installed, both signals are only *recorded*; nothing is raised at
an arbitrary point. The orchestrator looks at them where it can act on them (between its start-up
steps, and in the loop that waits for Locust):

- the first signal ends the run as Ctrl-C in a terminal does: Locust gets SIGTERM, stops its users
  and writes its files, then the target and the proxy are stopped, then the report is built;
- a second signal makes that shutdown hurry (Locust's whole process group gets SIGKILL), but never
  cuts it short: every child is gone before ``agentsoak`` exits, and nothing writes to the run
  directory after its report.

Why SIGINT needs a handler of our own: a process started as a background job of a non-interactive
shell (``agentsoak run … &`` in a CI script, and so under many supervisors) inherits SIGINT
*ignored*, and Python leaves an ignored SIGINT ignored. ``kill -INT`` and ``timeout -s INT`` then had
no effect at all: the run went on to its end and exited 0. Installing a handler overrides that.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Interrupted", "StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A stop signal arrived; raised by :meth:`StopSignals.check` between steps, never by the handler."""


class StopSignals:
    """Records SIGINT and SIGTERM while installed (a context manager; main thread only)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)

    @property
    def count(self) -> int:
        """How many stop signals arrived."""
        return len(self.received)

    @property
    def first(self) -> str | None:
        """The first signal's name (``SIGINT``, ``SIGTERM``), or None."""
        return self.received[0] if self.received else None

    def reason(self) -> str:
        """Why the run stopped, for ``run.json`` and the terminal."""
        how = " (Ctrl-C)" if self.first == "SIGINT" else ""
        return f"stopped by {self.first}{how}"

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop signal arrived."""
        if self.received:
            raise Interrupted(self.reason())
