"""Finding agents in a run's ledger and keeping their events, in one streaming pass.

An agent is named by its id (``agent-0007``, or whatever id the ledger holds) or by its global
index (``7``, ``0007``): the agent whose ``agent_start.index`` is 7, else the one with id
``agent-0007``. ``AgentTap`` wraps a ledger stream: events go through unchanged (another consumer
reads the same pass) while the named agents' events are kept, so memory is bounded by those agents.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reports.errors import RunDirError, UnknownAgentError
from reports.ledger import iter_ledger
from reports.ledger import schema as ev
from reports.ledger.reader import UnknownEvent
from reports.summary import RunSummary
from reports.trace.model import AgentTrace, build_trace
from reports.verify import Check

__all__ = ["AgentSpec", "AgentTap", "read_trace"]

_NUMBERED = re.compile(r"(?:agent-)?(\d+)")


@dataclass(frozen=True)
class AgentSpec:
    """What the user typed for AGENT: an id, and the index it stands for when it has one."""

    text: str
    index: int | None

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        """``agent-0007``, ``agent-7``, ``0007`` and ``7`` all mean index 7; anything else is an id."""
        text = text.strip()
        if not text:
            raise UnknownAgentError("AGENT is empty: give an agent id (agent-0007) or its index (7)")
        m = _NUMBERED.fullmatch(text)
        return cls(text, int(m.group(1)) if m else None)

    @property
    def name(self) -> str:
        """The id this spec names by the ``agent-NNNN`` convention (the id itself when it has no index)."""
        return f"agent-{self.index:04d}" if self.index is not None else self.text

    def matches(self, agent: str, index: int | None) -> bool:
        if self.index is not None and index is not None:
            return index == self.index
        return agent in (self.text, self.name)


class AgentTap:
    """Keeps the events of the agents in ``agents`` (ids) and of those ``specs`` name, from a stream.

    ``tap(events)`` yields every event unchanged; once it is read to the end, ``events[agent]`` holds
    the kept events of each agent, ``found[spec]`` the id each spec resolved to, and ``seen`` every
    agent id in the stream.
    """

    def __init__(self, agents: Iterable[str] = (), specs: Iterable[AgentSpec] = ()) -> None:
        self.events: dict[str, list[ev.Event]] = {a: [] for a in agents}
        self.specs = tuple(specs)
        self.found: dict[AgentSpec, str] = {}
        self.seen: set[str] = set()

    def _resolve(self, e: ev.Event, agent: str) -> None:
        index = e.index if isinstance(e, ev.AgentStart) else None
        for spec in self.specs:
            if spec.matches(agent, index):
                # an index from agent_start beats an id match (ids need not follow agent-NNNN)
                if spec not in self.found or (index is not None and spec.index is not None):
                    self.found[spec] = agent
                self.events.setdefault(agent, [])

    def tap(self, events: Iterable[ev.Event | UnknownEvent]) -> Iterator[ev.Event | UnknownEvent]:
        keep, seen = self.events, self.seen
        for e in events:
            agent = getattr(e, "agent", None)
            if agent is not None:
                if agent not in seen:
                    seen.add(agent)
                    if self.specs:
                        self._resolve(e, agent)  # type: ignore[arg-type]
                elif self.specs and isinstance(e, ev.AgentStart):
                    self._resolve(e, agent)
                kept = keep.get(agent)
                if kept is not None:
                    kept.append(e)  # type: ignore[arg-type]
            yield e

    def drain(self, stream: Iterator[ev.Event | UnknownEvent]) -> None:
        """Read the rest of ``stream`` (a ``tap``) so every kept list is complete."""
        for _ in stream:
            pass

    def agent_of(self, spec: AgentSpec, where: str) -> str:
        """The id ``spec`` resolved to. Raises ``UnknownAgentError`` naming the agents there are."""
        agent = self.found.get(spec)
        if agent is not None:
            return agent
        known = sorted(self.seen)
        some = (", ".join(known) if len(known) <= 6 else f"{known[0]} … {known[-1]}") if known else "none"
        raise UnknownAgentError(f"{where}: no agent {spec.text!r} in the ledger ({len(known)} agents: {some})")


def read_trace(run_dir: str | os.PathLike[str], agent: str, summary: RunSummary, *,
               checks: Iterable[Check] = (), partial: Iterable[str] = ()) -> AgentTrace:
    """The trace of ``agent`` (an id or an index) in ``run_dir``, from one more pass over the ledger.

    Raises ``RunDirError`` when ``run_dir`` is not a run directory, ``UnknownAgentError`` when no
    agent of the ledger matches ``agent``.
    """
    rd = Path(run_dir)
    if not (rd / "ledger").is_dir():
        raise RunDirError(f"{rd}: not a run directory (no ledger/ inside)")
    spec = AgentSpec.parse(agent)
    tap = AgentTap(specs=(spec,))
    tap.drain(tap.tap(iter_ledger(rd)))
    name = tap.agent_of(spec, str(rd))
    return build_trace(tap.events[name], name, summary, checks=checks, partial=partial)
