"""``FindingSet``: counts offending items exactly, keeps their agents and a few example ids."""

from __future__ import annotations

from reports.summary.model import Finding

__all__ = ["FindingSet", "EXAMPLES"]

EXAMPLES = 50  # example ids kept per finding (counts and agent sets stay exact)


class FindingSet:
    """The mutable side of a ``Finding``."""

    __slots__ = ("count", "agents", "examples", "by_agent")

    def __init__(self) -> None:
        self.count = 0
        self.agents: set[str] = set()
        self.examples: list[str] = []
        self.by_agent: dict[str, str] = {}  # bounded by the agents, like ``agents``

    def add(self, agent: str | None, example: str | None) -> None:
        self.count += 1
        if agent is not None:
            self.agents.add(agent)
            if example is not None:
                self.by_agent.setdefault(agent, example)
        if example is not None and len(self.examples) < EXAMPLES:
            self.examples.append(example)

    def freeze(self) -> Finding:
        return Finding(self.count, tuple(sorted(self.agents)), tuple(sorted(self.examples)),
                       dict(sorted(self.by_agent.items())))
