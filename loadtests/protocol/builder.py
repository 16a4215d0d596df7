"""Server side: build the exact event sequence of one response (spec §3.3–3.6).

:class:`ResponseBuilder` numbers events from 0 per response and accumulates the output items, so the
terminal event carries the full ``output`` (§3.2). It returns plain dicts ready for ``dumps``; the
server decides *when* to send each one (the cost model), the builder only decides *what*.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from .events import ResponseCreate

__all__ = ["IdSource", "ResponseBuilder", "usage"]


class IdSource:
    """Ids such as ``resp_…`` / ``msg_…``: a per-process random prefix plus a counter (unique per run)."""

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix if prefix is not None else os.urandom(4).hex()
        self._counter = itertools.count(1)

    def new(self, kind: str) -> str:
        return f"{kind}_{self._prefix}{next(self._counter):08x}"


class ResponseBuilder:
    """Events of one response, numbered from 0."""

    def __init__(self, response_id: str, request: ResponseCreate, ids: IdSource, *,
                 created_at: int | None = None, call_id_prefix: str | None = None) -> None:
        """``call_id_prefix`` names function calls ``call_<prefix><n>`` (default: from ``ids``). A
        ``call_id`` is part of the context the next turn is built on, so a server that wants the same
        turns whatever the arrival order derives the prefix from the request (its context digest)."""
        self.id = response_id
        self.request = request
        self.ids = ids
        self.call_ids = ids if call_id_prefix is None else IdSource(call_id_prefix)
        self.created_at = int(time.time()) if created_at is None else created_at
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self._text: list[str] = []
        self._args: list[str] = []
        self._item: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def response_object(self, status: str, *, usage: dict[str, Any] | None = None,
                        error: dict[str, Any] | None = None,
                        incomplete_details: dict[str, Any] | None = None) -> dict[str, Any]:
        """The full Response object (§3.2), echoing the request's fields."""
        req = self.request
        obj: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "model": req.model, "instructions": req.instructions,
            "output": list(self.output) if status != "in_progress" else [],
            "previous_response_id": req.previous_response_id, "store": req.store,
            "tools": req.tools, "metadata": req.metadata or {}, "error": error,
            "incomplete_details": incomplete_details, "usage": usage, **req.echoed(),
        }
        if status == "completed":
            obj["completed_at"] = int(time.time())
        return obj

    def created(self) -> dict[str, Any]:
        return self._event("response.created", response=self.response_object("in_progress"))

    def in_progress(self) -> dict[str, Any]:
        return self._event("response.in_progress", response=self.response_object("in_progress"))

    # -- text output (§3.3) --
    def start_message(self) -> list[dict[str, Any]]:
        item_id = self.ids.new("msg")
        self._item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
                      "content": []}
        self._text = []
        idx = len(self.output)
        return [
            self._event("response.output_item.added", output_index=idx, item=dict(self._item)),
            self._event("response.content_part.added", item_id=item_id, output_index=idx, content_index=0,
                        part={"type": "output_text", "text": "", "annotations": []}),
        ]

    def text_delta(self, delta: str) -> dict[str, Any]:
        # The hot path (one call per streamed delta): one dict literal, no keyword merging.
        assert self._item is not None, "start_message() first"
        self._text.append(delta)
        seq = self._seq
        self._seq = seq + 1
        return {"type": "response.output_text.delta", "sequence_number": seq, "item_id": self._item["id"],
                "output_index": len(self.output), "content_index": 0, "delta": delta, "logprobs": []}

    def finish_message(self) -> list[dict[str, Any]]:
        assert self._item is not None, "start_message() first"
        text = "".join(self._text)
        item_id, idx = self._item["id"], len(self.output)
        done_item = {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                     "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
        events = [
            self._event("response.output_text.done", item_id=item_id, output_index=idx, content_index=0,
                        text=text, logprobs=[]),
            self._event("response.content_part.done", item_id=item_id, output_index=idx, content_index=0,
                        part={"type": "output_text", "text": text, "annotations": []}),
            self._event("response.output_item.done", output_index=idx, item=done_item),
        ]
        self.output.append(done_item)
        self._item = None
        return events

    # -- function calls (§3.4) --
    def start_call(self, name: str) -> dict[str, Any]:
        self._item = {"type": "function_call", "id": self.ids.new("fc"), "call_id": self.call_ids.new("call"),
                      "name": name, "arguments": "", "status": "in_progress"}
        self._args = []
        return self._event("response.output_item.added", output_index=len(self.output), item=dict(self._item))

    def args_delta(self, delta: str) -> dict[str, Any]:
        assert self._item is not None, "start_call() first"
        self._args.append(delta)
        seq = self._seq
        self._seq = seq + 1
        return {"type": "response.function_call_arguments.delta", "sequence_number": seq,
                "item_id": self._item["id"], "output_index": len(self.output), "delta": delta}

    def finish_call(self) -> list[dict[str, Any]]:
        assert self._item is not None, "start_call() first"
        args = "".join(self._args)
        item = dict(self._item, arguments=args, status="completed")
        idx = len(self.output)
        events = [
            self._event("response.function_call_arguments.done", item_id=item["id"], output_index=idx,
                        name=item["name"], arguments=args),
            self._event("response.output_item.done", output_index=idx, item=item),
        ]
        self.output.append(item)
        self._item = None
        return events

    # -- terminal events (§3.6) --
    def completed(self, usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return self._event("response.completed", response=self.response_object("completed", usage=usage), **extra)

    def incomplete(self, usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return self._event("response.incomplete", response=self.response_object(
            "incomplete", usage=usage, incomplete_details={"reason": "max_output_tokens"}), **extra)

    def failed(self, code: str, message: str, **extra: Any) -> dict[str, Any]:
        return self._event("response.failed", response=self.response_object(
            "failed", error={"code": code, "message": message}), **extra)


def usage(input_tokens: int, cached_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A ``usage`` object (§3.2)."""
    # cache_write_tokens: the openai SDK's strict InputTokensDetails requires it (the uncached part).
    return {"input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens,
                                     "cache_write_tokens": max(0, input_tokens - cached_tokens)},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens}
