"""The one error tree of ``faults``.

::

    FaultError                      anything the fault layer raises on purpose
    ├── ToxiproxyError(status, msg) a Toxiproxy API call failed (client side, any backend)
    │   ├── ApiError                raised by our server's handlers; rendered as {"error", "status"}
    │   └── Unavailable             no HTTP answer at all (refused, timed out); status 0
    ├── BackendError                no Toxiproxy could be started
    ├── RemoteTargetError           a non-loopback URL or upstream without ``allow_remote=True``
    └── ServerAdminError            (faults.server_admin) a reference-server admin call failed
"""

from __future__ import annotations

__all__ = ["FaultError", "ToxiproxyError", "ApiError", "Unavailable", "BackendError", "RemoteTargetError"]


class FaultError(Exception):
    """Base of every deliberate error in ``faults``."""


class ToxiproxyError(FaultError):
    """An API call answered ``status`` with ``message`` (Toxiproxy's ``error`` text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")  # the Go client's wording (spec §2)
        self.status = status
        self.message = message


class ApiError(ToxiproxyError):
    """Raised inside the embedded server; the API turns it into Toxiproxy's error reply."""


class Unavailable(ToxiproxyError):
    """The server did not answer (connection refused, reset or timed out)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class BackendError(FaultError):
    """Neither ``TOXIPROXY_URL``, a ``toxiproxy-server`` binary nor the embedded server could be used."""


class RemoteTargetError(FaultError):
    """Traffic would leave loopback; pass ``allow_remote=True`` to mean it."""
