"""Errors of the reference server.

    ServerError
    ├── ConfigError     a flag or config value is invalid (the CLI turns it into an argparse error)
    └── TurnRejected    a create is answered with an ``error`` envelope instead of a response

``ServerError`` itself is never raised.
"""

from __future__ import annotations

from loadtests.protocol import ErrorEvent

__all__ = ["ServerError", "ConfigError", "TurnRejected"]


class ServerError(Exception):
    """Base of the server's errors (not raised directly)."""


class ConfigError(ServerError, ValueError):
    """Invalid configuration."""


class TurnRejected(ServerError):
    """A create is rejected before ``response.created``; ``envelope`` is the §4 error to send."""

    def __init__(self, envelope: ErrorEvent) -> None:
        super().__init__(envelope.message)
        self.envelope = envelope
