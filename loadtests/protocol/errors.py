"""Errors of the protocol core.

    ProtocolError
    ├── LocalProtocolError    we tried something the protocol forbids (a second turn in flight, …)
    └── RemoteProtocolError   the peer sent something we cannot accept (bad JSON, wrong order, …)
        └── InvalidRequest    a client frame the server answers with an ``error`` envelope (spec §2)

``ProtocolError`` itself is never raised; catch it to handle both.
"""

from __future__ import annotations

__all__ = ["ProtocolError", "LocalProtocolError", "RemoteProtocolError", "InvalidRequest"]


class ProtocolError(Exception):
    """Base of the protocol errors (not raised directly)."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError")
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """Our side broke the protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class InvalidRequest(RemoteProtocolError):
    """A client frame the server rejects: ``code`` and ``param`` go into the error envelope, and
    ``previous_response_id`` (when the frame named one) is evicted, as for any failed create (§5)."""

    def __init__(self, message: str, *, code: str, param: str | None = None,
                 previous_response_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.previous_response_id = previous_response_id
