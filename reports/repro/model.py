"""What ``bundle.json`` holds: the typed manifest of one repro bundle (``repro/<check>/``).

A bundle is written for every failed check when a report is written (``reports.repro.write_bundles``)
and read back by ``agentsoak reproduce`` (``reports.repro.read_bundle``). ``FORMAT`` is bumped when a
field changes meaning; a reader refuses a bundle of a newer format.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["FORMAT", "AppliedFault", "Bundle", "CheckFailure", "Counts", "FileSlice", "Signature"]

FORMAT = 1


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """What "the same failure" means: this check fails, naming this agent (None: a check that names no
    agent, judged by its verdict alone)."""

    check: str
    agent: str | None = None

    def __str__(self) -> str:
        return self.check if self.agent is None else f"{self.check} @ {self.agent}"


class CheckFailure(msgspec.Struct, frozen=True, kw_only=True):
    """The failed check as the report gave it."""

    name: str
    observed: float | int | None
    limit: float | int | None
    unit: str
    agents: list[str]  # every agent the check named
    agents_total: int
    detail: str


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    """The size of a run: fault entries (timeline entries), fault windows, agents, seconds."""

    faults: int
    windows: int
    agents: int
    seconds: float


class AppliedFault(msgspec.Struct, frozen=True, kw_only=True):
    """One fault window as the ledger says it was applied.

    ``applied_s``/``removed_s`` are seconds since the test start (``removed_s`` None: still on when the
    ledger ends); ``hit`` the connections of the bundle's agents it hit, as client ids
    (``agent-0007/c3``), ``hit_total`` how many connections of the whole run it hit (None: unknown),
    and ``hit_by`` where that comes from; ``manual``: a fault added by hand (``agentsoak ui``), which the
    replay profile does not carry (it is not in the profile)."""

    fault: str
    type: str
    planned_start_s: float
    planned_duration_s: float
    applied_at: str | None  # UTC wall time, ISO 8601
    applied_s: float | None
    removed_s: float | None
    share: float | None
    attributes: dict[str, Any]
    hit: list[str]
    hit_total: int | None
    hit_by: str
    errors: list[str] = msgspec.field(default_factory=list)
    manual: bool = False  # added by hand from the web UI's Faults tab (``fault_apply.manual``), not the timeline

    @property
    def hit_agents(self) -> list[str]:
        """The agents behind ``hit``, in order, each once."""
        return list(dict.fromkeys(c.rsplit("/", 1)[0] for c in self.hit))


class FileSlice(msgspec.Struct, frozen=True, kw_only=True):
    """One file of the bundle: ``kept`` of ``total`` lines (``truncated`` when fewer)."""

    path: str
    kept: int
    total: int
    what: str

    @property
    def truncated(self) -> bool:
        return self.kept < self.total


class Bundle(msgspec.Struct, frozen=True, kw_only=True):
    """The manifest of one repro bundle."""

    format: int
    agentsoak: str  # the version that wrote it
    run_id: str
    profile: str
    seed: Any
    check: CheckFailure
    signature: Signature
    agents: list[int]  # the agent indices the replay runs ([]: all of them)
    failed_at_s: float | None  # when the signature failed, seconds since the test start
    failed_on: str | None  # the turn (or event) it failed on
    original: Counts
    replay: Counts
    timeline: list[AppliedFault]
    files: list[FileSlice]
    replay_command: str
