"""Errors of the protocol core.

    ProtocolError
    ├── LocalProtocolError    we tried something the protocol forbids (a second turn in flight, …)
    └── RemoteProtocolError   the peer sent something we cannot accept (bad JSON, wrong order, …)

``ProtocolError`` itself is never raised; catch it to handle both.
"""

from __future__ import annotations

__all__ = ["ProtocolError", "LocalProtocolError", "RemoteProtocolError"]


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
