"""Run identity and the time frame: ``run_start``/``run_stop`` and the test's start and stop."""

from __future__ import annotations

from reports.ledger import schema as ev
from reports.summary.model import RunInfo

__all__ = ["RunFrame"]


class RunFrame:
    """The run-level events of a pass (the last of each, the earliest test start, the latest stop)."""

    def __init__(self) -> None:
        self.start: ev.RunStart | None = None
        self.stop: ev.RunStop | None = None
        self.test_start: float | None = None
        self.test_stop: float | None = None
        self.test_users: int | None = None  # Locust's -u at the test start (a ledger without run_start)

    def run_start(self, e: ev.RunStart) -> None:
        self.start = e

    def run_stop(self, e: ev.RunStop) -> None:
        self.stop = e

    def test_started(self, e: ev.TestStart) -> None:
        if e.users is not None:
            self.test_users = max(e.users, self.test_users or 0)
        self.test_start = e.mono if self.test_start is None else min(self.test_start, e.mono)

    def test_stopped(self, e: ev.TestStop) -> None:
        self.test_stop = e.mono if self.test_stop is None else max(self.test_stop, e.mono)

    def origin(self, first_mono: float | None) -> float | None:
        """``t0``: the test start, else the run start, else the first event."""
        if self.test_start is not None:
            return self.test_start
        return self.start.mono if self.start is not None else first_mono

    def end(self, last_mono: float | None) -> float | None:
        """The test stop, else the run stop, else the last event."""
        if self.test_stop is not None:
            return self.test_stop
        return self.stop.mono if self.stop is not None else last_mono

    def info(self) -> RunInfo:
        rs, stop = self.start, self.stop
        return RunInfo(
            run_id=rs.run_id if rs else None,
            profile=rs.profile if rs else None,
            seed=rs.seed if rs else None,
            target=rs.target if rs else None,
            digests=rs.digests if rs else None,
            proxy=rs.proxy if rs else None,
            users=rs.users if rs else self.test_users,
            duration_s=rs.duration_s if rs else None,
            reconnect=rs.reconnect if rs else None,
            fault_plan=tuple(rs.fault_plan) if rs and rs.fault_plan is not None else None,
            cpu_count=rs.cpu_count if rs else None,
            agent_indices=tuple(rs.agents) if rs and rs.agents is not None else None,
            interactive=rs.interactive if rs else False,
            started=rs is not None,
            stopped=stop is not None,
            stop_reason=stop.reason if stop else None,
            stop_error=stop.error if stop else None,
            test_started=self.test_start is not None,
            test_stopped=self.test_stop is not None,
        )
