"""``Report``: everything a rendering shows, and the exit code it stands for (renderers import this)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.recovery import FaultRecovery
from reports.summary import RunSummary
from reports.thresholds import Thresholds
from reports.verify import FAIL, Check

__all__ = ["Report", "exit_code", "EXIT_PASS", "EXIT_FAIL", "EXIT_BROKEN"]

EXIT_PASS, EXIT_FAIL, EXIT_BROKEN = 0, 1, 2


@dataclass(frozen=True)
class Report:
    """Everything the renderers show: checks first, then the summary they were computed from."""

    run_dir: Path
    name: str
    seed: Any
    thresholds: Thresholds
    checks: tuple[Check, ...]
    summary: RunSummary
    recoveries: tuple[FaultRecovery, ...]
    partial: bool
    partial_reasons: tuple[str, ...]
    run_status: str | None  # run.json status, None when absent
    exit_reason: str | None
    notes: tuple[str, ...]
    ledger_files: int
    ledger_lines: int
    bad_lines: int
    generated_at: str

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == FAIL)

    @property
    def broken(self) -> str | None:
        """Why the run itself broke (exit 2), or None."""
        if self.run_status == "error":
            return f"run.json status is error ({self.exit_reason or 'no reason given'})"
        if self.summary.run.stop_reason == "error":
            return f"run_stop reason is error ({self.summary.run.stop_error or 'no error text'})"
        if self.summary.agent_events == 0:
            return "the ledger has no agent events: no agent ever ran"
        if self.partial:
            return "partial run (" + "; ".join(self.partial_reasons) + ")"
        return None

    @property
    def verdict(self) -> str:
        """``BROKEN``, ``FAIL`` or ``PASS``: the headline."""
        return "BROKEN" if self.broken else "FAIL" if self.failed else "PASS"


def exit_code(report: Report) -> int:
    """0 when every check passes, 1 when a check fails, 2 when the run itself broke (incl. partial)."""
    if report.broken:
        return EXIT_BROKEN
    return EXIT_FAIL if report.failed else EXIT_PASS
