"""Parking an idle agent's reader under gevent: no greenlet waits on a quiet socket.

Under Locust (gevent), a greenlet blocked on a socket costs ~8-10 KB, its saved C stack and frames,
which was most of an idle agent. A parked reader is one libev watcher on the socket's descriptor
instead: when the socket turns readable, a new greenlet goes on reading. :meth:`Parker.wake`
resumes it at once, and must come before the descriptor is closed (a kill, a stop): libev must not
watch a closed descriptor, whose number the next socket may reuse.

Without gevent's socket patching (plain threads: the tests, the tools) there is nothing to park,
:func:`parker` returns None, and the reader blocks on its own thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Parker", "parker"]

_READ = 1  # libev's EV_READ


class Parker:
    """Parks one reader at a time on a descriptor; the first readable event or :meth:`wake` resumes it."""

    __slots__ = ("_gevent", "_loop", "_watcher", "_resume")

    def __init__(self, gevent: Any) -> None:
        self._gevent = gevent
        self._loop = gevent.get_hub().loop
        self._watcher: Any = None
        self._resume: Callable[[], object] | None = None

    @property
    def parked(self) -> bool:
        return self._resume is not None

    def park(self, fd: int, resume: Callable[[], object]) -> None:
        """Watch ``fd``; when it is readable (or on :meth:`wake`), run ``resume`` in a new greenlet."""
        self.wake()  # never two watchers
        self._resume = resume
        self._watcher = self._loop.io(fd, _READ)
        self._watcher.start(self.wake)

    def wake(self) -> None:
        """Stop watching and resume the parked reader now (no-op when none is parked)."""
        resume, self._resume = self._resume, None
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()
        if resume is not None:
            self._gevent.spawn(resume)


def parker() -> Parker | None:
    """A parker when this process runs on gevent's patched sockets (Locust), else None."""
    gevent = sys.modules.get("gevent")
    if gevent is None:
        return None
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        return None
    return Parker(gevent)
