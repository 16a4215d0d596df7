"""The seeded cost model: what a turn outputs and how long it takes (spec §9, §10; our choices).

One :class:`CostModel` per connection, seeded with ``seed ^ connection_index``, so the same seed and
the same requests on the same connection order reproduce the same outputs. Every generating turn draws
the same values in the same order, whatever the hints say, so hints never shift later draws.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from .config import ServerConfig

__all__ = ["TurnPlan", "CostModel", "MAX_OUTPUT_TOKENS"]

MAX_OUTPUT_TOKENS = 1_000_000  # clamp for the ``agentsoak_output_tokens`` hint

_WORDS = (
    "the",
    "agent",
    "reads",
    "file",
    "module",
    "function",
    "returns",
    "value",
    "test",
    "passes",
    "cache",
    "state",
    "token",
    "stream",
    "socket",
    "server",
    "client",
    "result",
    "call",
    "tool",
    "patch",
    "diff",
    "line",
    "error",
    "retry",
    "chain",
    "input",
    "output",
    "build",
    "check",
    "fix",
    "bug",
    "loop",
    "queue",
)


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """The output of one turn: text, or one function call with ``arguments``."""

    kind: str  # "text" | "call"
    text: str = ""
    name: str = ""
    arguments: str = ""
    truncated: bool = False  # max_output_tokens cut it: ends response.incomplete


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict):
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return name
    return "tool"


def _hint_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(1, min(MAX_OUTPUT_TOKENS, int(value)))
    if isinstance(value, str) and value.strip().isdigit():
        return max(1, min(MAX_OUTPUT_TOKENS, int(value)))
    return None


class CostModel:
    """Seeded draws and timings for one connection."""

    def __init__(self, config: ServerConfig, seed: int) -> None:
        self.config = config
        self.rng = random.Random(seed)

    def ttft_s(self, input_tokens: int, cached_tokens: int) -> float:
        """Time to first token: a base plus per-1k costs; cached tokens are cheap (they stay rendered)."""
        c = self.config
        uncached = max(0, input_tokens - cached_tokens)
        return (
            c.ttft_base_ms
            + c.ttft_per_1k_uncached_ms * uncached / 1000.0
            + c.ttft_per_1k_cached_ms * cached_tokens / 1000.0
        ) / 1000.0

    def plan(
        self, tools: list[dict[str, Any]], metadata: dict[str, Any] | None, max_output_tokens: int | None
    ) -> TurnPlan:
        """Draw one turn's output, honouring the ``agentsoak_*`` metadata hints when present."""
        c, rng = self.config, self.rng
        drawn_tokens = rng.randint(c.output_tokens_min, c.output_tokens_max)
        call_draw = rng.random()
        tool_index = rng.randrange(len(tools)) if tools else 0
        module = rng.randrange(100)
        text_seed = rng.getrandbits(64)
        meta = metadata or {}
        n = _hint_int(meta.get("agentsoak_output_tokens")) or drawn_tokens
        hint = meta.get("agentsoak_tool_call", "auto")
        if not tools or hint == "no":
            call = False
        elif hint == "yes":
            call = True
        else:
            call = call_draw < c.tool_call_probability
        if call:
            args = json.dumps({"path": f"src/mod_{module}.py"})
            truncated = max_output_tokens is not None and -(-len(args) // 4) > max_output_tokens
            if truncated:
                args = args[: 4 * max_output_tokens]
            return TurnPlan("call", name=_tool_name(tools[tool_index]), arguments=args, truncated=truncated)
        truncated = max_output_tokens is not None and n > max_output_tokens
        if truncated:
            n = max_output_tokens  # type: ignore[assignment]
        return TurnPlan("text", text=_text(n, text_seed), truncated=truncated)


def _text(tokens: int, seed: int) -> str:
    """Exactly ``4 * tokens`` ASCII characters of word salad (one token is 4 bytes, spec §3.2)."""
    rng = random.Random(seed)
    size = 4 * tokens
    words = rng.choices(_WORDS, k=size // 3 + 2)
    text = " ".join(words)
    while len(text) < size:  # word lengths average above 3, so this rarely runs
        text += " " + " ".join(rng.choices(_WORDS, k=size // 3 + 2))
    text = text[:size]
    return text[:-1] + "." if size > 1 else text
