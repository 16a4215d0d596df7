"""Context digests and token counts, computed the same way on both sides.

A *context digest* is a rolling hash over the conversation items a turn builds on. Both the agent and
the reference server fold items into it one at a time, so the server can report the digest of the
state it actually used and the agent can compare it with its own history. A mismatch means the server
continued from the wrong state (a stale cache, a wrong hydrate, a lost or duplicated item).

Items are normalised first, so ids, statuses, annotations and the input/output text part names do not
change the digest: an assistant message the agent resends as input digests the same as the output
item it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = ["EMPTY_DIGEST", "normalize_item", "extend_digest", "digest_items", "count_tokens", "item_tokens"]

EMPTY_DIGEST = hashlib.blake2b(b"agentsoak-context-v1", digest_size=16).hexdigest()

_DROP = frozenset({"id", "status", "annotations", "logprobs"})


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return ""


def normalize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The digest-relevant view of one conversation item."""
    kind = item.get("type", "message")
    if kind == "message":
        return {"type": "message", "role": item.get("role", "user"), "text": _message_text(item.get("content"))}
    if kind == "function_call":
        return {
            "type": "function_call",
            "call_id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments", ""),
        }
    if kind == "function_call_output":
        return {"type": "function_call_output", "call_id": item.get("call_id"), "output": item.get("output", "")}
    return {k: v for k, v in item.items() if k not in _DROP}


def extend_digest(digest: str, items: Iterable[Mapping[str, Any]]) -> str:
    """Fold ``items`` into ``digest``, in order."""
    for item in items:
        h = hashlib.blake2b(digest.encode("ascii"), digest_size=16)
        h.update(orjson.dumps(normalize_item(item), option=orjson.OPT_SORT_KEYS))
        digest = h.hexdigest()
    return digest


def digest_items(items: Iterable[Mapping[str, Any]]) -> str:
    """Digest of a whole conversation, from the start."""
    return extend_digest(EMPTY_DIGEST, items)


def count_tokens(text: str) -> int:
    """Our token count: one token per 4 UTF-8 bytes, rounded up (spec §3.2, our choice)."""
    return -(-len(text.encode("utf-8")) // 4)


def item_tokens(item: Mapping[str, Any]) -> int:
    """Tokens of one item: its normalised text fields, counted as :func:`count_tokens`."""
    norm = normalize_item(item)
    n = 0
    for key in ("text", "arguments", "output", "name"):
        value = norm.get(key)
        if isinstance(value, str):
            n += count_tokens(value)
    return max(n, 1)
