"""The seeded cost model: what a turn outputs and how long it takes (spec §9, §10; our choices).

Each turn's draws come from a fresh RNG keyed by the server seed and the turn's context digest (the
state it builds on plus its input), so a response depends only on the seed and the request: never on
arrival order, the connection it came on or how many connections are open.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from .config import ServerConfig
from .schema_args import arguments_for

__all__ = ["TurnPlan", "RequestCost", "CostModel", "MAX_OUTPUT_TOKENS", "function_tools", "TRANSPORTS"]

TRANSPORTS = ("websocket", "http")

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


@dataclass(frozen=True, slots=True)
class RequestCost:
    """What a turn costs before the model runs, by stage (ms): charged before ``response.created``."""

    handshake_ms: float = 0.0  # a new HTTP connection's TCP + TLS set-up (WebSocket: paid at the upgrade)
    overhead_ms: float = 0.0  # the fixed per-turn cost of the transport
    upload_ms: float = 0.0  # receiving the request body

    @property
    def total_s(self) -> float:
        return (self.handshake_ms + self.overhead_ms + self.upload_ms) / 1000.0


def function_tools(tools: list[Any]) -> list[tuple[str, Any]]:
    """(name, parameters) of the ``type: "function"`` tools; hosted tools and namespaces are never called."""
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        inner = tool.get("function") if isinstance(tool.get("function"), dict) else tool  # Chat form too
        name = inner.get("name")
        if isinstance(name, str) and name:
            out.append((name, inner.get("parameters")))
    return out


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
        self.seed = seed

    def rng_for(self, key: str) -> random.Random:
        """The RNG of one turn: seeded by the server seed and ``key`` (the turn's context digest)."""
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def ttft_s(self, input_tokens: int, cached_tokens: int) -> float:
        """Time to first token: a base plus per-1k costs; cached tokens are cheap (they stay rendered)."""
        c = self.config
        uncached = max(0, input_tokens - cached_tokens)
        return (
            c.ttft_base_ms
            + c.ttft_per_1k_uncached_ms * uncached / 1000.0
            + c.ttft_per_1k_cached_ms * cached_tokens / 1000.0
        ) / 1000.0

    def request_cost(self, transport: str, bytes_in: int, *, new_connection: bool = False) -> RequestCost:
        """The per-turn transport cost: handshake (HTTP, first request of a connection), overhead, upload."""
        c = self.config
        http = transport == "http"
        return RequestCost(
            handshake_ms=c.http_handshake_ms if http and new_connection else 0.0,
            overhead_ms=c.http_turn_overhead_ms if http else c.ws_turn_overhead_ms,
            upload_ms=c.upload_per_kib_ms * bytes_in / 1024.0,
        )

    def plan(
        self,
        tools: list[dict[str, Any]],
        metadata: dict[str, Any] | None,
        max_output_tokens: int | None,
        tool_choice: Any = "auto",
        key: str = "",
    ) -> TurnPlan:
        """Draw one turn's output, honouring ``tool_choice`` first, then the ``agentsoak_*`` metadata hints.

        ``tool_choice``: ``none`` never calls, ``required`` always calls a function tool, a
        ``{"type": "function", "name": …}`` calls that one, a hosted-tool choice gives text. Arguments
        satisfy the called tool's ``parameters`` schema.
        """
        c, rng = self.config, self.rng_for(key)
        callable_tools = function_tools(tools)
        drawn_tokens = rng.randint(c.output_tokens_min, c.output_tokens_max)
        call_draw = rng.random()
        tool_index = rng.randrange(len(callable_tools)) if callable_tools else 0
        rng.randrange(100)  # kept so the draws after it (and so every text) stay as they were
        text_seed = rng.getrandbits(64)
        meta = metadata or {}
        n = _hint_int(meta.get("agentsoak_output_tokens")) or drawn_tokens
        hint = meta.get("agentsoak_tool_call", "auto")
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            named = [i for i, (name, _) in enumerate(callable_tools) if name == tool_choice.get("name")]
            call, tool_index = bool(named), named[0] if named else 0
        elif not callable_tools or tool_choice == "none" or isinstance(tool_choice, dict):
            call = False
        elif tool_choice == "required" or hint == "yes":
            call = True
        elif hint == "no":
            call = False
        else:
            call = call_draw < c.tool_call_probability
        if call:
            name, parameters = callable_tools[tool_index]
            args = json.dumps(arguments_for(parameters, random.Random(text_seed)))
            truncated = max_output_tokens is not None and -(-len(args) // 4) > max_output_tokens
            if truncated:
                args = args[: 4 * max_output_tokens]
            return TurnPlan("call", name=name, arguments=args, truncated=truncated)
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
