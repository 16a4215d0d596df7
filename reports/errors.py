"""One error tree for ``reports``: everything a user can cause is a ``ReportError``."""

from __future__ import annotations

__all__ = ["BundleError", "ReportError", "RunDirError", "ThresholdError", "UnknownAgentError"]


class ReportError(Exception):
    """Base of every error ``reports`` raises on bad input. The CLI prints it on one line, exit 2."""


class RunDirError(ReportError):
    """The path is not a readable run directory (missing, no ledger, unreadable profile or run.json)."""


class UnknownAgentError(ReportError):
    """``agentsoak trace``: no agent of the run's ledger matches the AGENT given."""


class BundleError(ReportError):
    """A repro bundle cannot be read: the message names the file and, for a bad value, the field."""


class ThresholdError(ReportError, ValueError):
    """A ``checks:`` entry of the profile names an unknown threshold or has a bad value.

    Attributes:
        key: the offending key.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
