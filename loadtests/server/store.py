"""The server-wide response store (``store=true``, spec §5): a bounded LRU of context summaries."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["ContextEntry", "ResponseStore"]


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """What a later turn needs from a response: the digest after its output and the context's size.

    Only the digest and token count are kept, never the items, so a large store stays small.
    """

    response_id: str
    digest_after: str
    tokens: int


class ResponseStore:
    """Bounded LRU: the least recently used entry leaves first when ``capacity`` is reached."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, ContextEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entry: ContextEntry) -> None:
        if self.capacity <= 0:
            return
        self._entries[entry.response_id] = entry
        self._entries.move_to_end(entry.response_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def get(self, response_id: str) -> ContextEntry | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)
        return entry

    def clear(self) -> int:
        """Drop everything; returns how many entries were dropped."""
        n = len(self._entries)
        self._entries.clear()
        return n
