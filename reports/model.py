"""``Report``: everything a rendering shows, and the exit code it stands for (renderers import this)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.recovery import FaultRecovery
from reports.summary import RunSummary
from reports.thresholds import Thresholds
from reports.trace.model import AgentTrace
from reports.trail import Trail
from reports.verify import FAIL, Check

__all__ = ["Report", "exit_code", "EXIT_PASS", "EXIT_FAIL", "EXIT_BROKEN", "EXIT_INTERRUPTED", "VERDICTS"]

EXIT_PASS, EXIT_FAIL, EXIT_BROKEN, EXIT_INTERRUPTED = 0, 1, 2, 2
#: every headline verdict and its exit code (docs/reports.md)
VERDICTS = {"PASS": EXIT_PASS, "FAIL": EXIT_FAIL, "INTERRUPTED": EXIT_INTERRUPTED, "BROKEN": EXIT_BROKEN}


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
    trails: tuple[Trail, ...] = ()  # the last events of the agents named in failed checks
    traces: tuple[AgentTrace, ...] = ()  # the timelines of (the first SWIMLANES of) those agents
    traces_left_out: int = 0  # agents named in failed checks beyond that cap
    extra_ledgers: tuple[Path, ...] = ()  # the run's ledger files read from elsewhere (``report --ledger``)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == FAIL)

    @property
    def errored(self) -> str | None:
        """Why the run ended in an error (run.json or run_stop say so), or None."""
        if self.run_status == "error":
            return f"run.json status is error ({self.exit_reason or 'no reason given'})"
        if self.summary.run.stop_reason == "error":
            return f"run_stop reason is error ({self.summary.run.stop_error or 'no error text'})"
        return None

    @property
    def interrupted(self) -> str | None:
        """Why the run was stopped before its end (Ctrl-C, SIGTERM), or None."""
        if self.run_status == "interrupted" or self.summary.run.stop_reason == "interrupted":
            return self.summary.run.stop_error or self.exit_reason or "interrupted"
        return None

    @property
    def broken(self) -> str | None:
        """Why the run itself broke or is incomplete (exit 2), or None."""
        if self.errored:
            return self.errored
        if self.summary.agent_events == 0:
            return "the ledger has no agent events: no agent ever ran"
        if self.partial:
            return "partial run (" + "; ".join(self.partial_reasons) + ")"
        return None

    @property
    def verdict(self) -> str:
        """The headline: ``BROKEN`` (the run ended in an error), ``INTERRUPTED`` (stopped before its end;
        its checks are from a partial run), ``BROKEN`` (partial or empty for another reason), ``FAIL``
        or ``PASS``."""
        if self.errored:
            return "BROKEN"
        if self.interrupted:
            return "INTERRUPTED"
        return "BROKEN" if self.broken else "FAIL" if self.failed else "PASS"


def exit_code(report: Report) -> int:
    """The verdict's exit code: 0 PASS, 1 FAIL, 2 INTERRUPTED or BROKEN (``VERDICTS``)."""
    return VERDICTS[report.verdict]
