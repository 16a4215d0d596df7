"""Typed messages of Responses API WebSocket mode (spec: responses-websocket.md §2–4).

Every message is a frozen, slotted dataclass with ``to_dict()`` (the JSON object on the wire) and
``parse(obj)``. :func:`parse_server_event` turns one text frame from the server into one event;
:func:`parse_client_message` does the same for frames the server receives. Unknown server event
types parse to :class:`UnknownEvent` (clients must ignore unknowns, §3.6); unknown keys are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from .errors import InvalidRequest, RemoteProtocolError

__all__ = [
    "EventType", "TERMINAL_TYPES", "RECOVERABLE_CLOSE_CODES", "ErrorCode", "ResponseCreate",
    "ResponseEvent", "OutputItemEvent", "ContentPartEvent", "TextDelta", "TextDone", "ArgumentsDelta",
    "ArgumentsDone", "ErrorEvent", "UnknownEvent", "ServerEvent", "parse_server_event",
    "parse_client_message", "error_envelope", "dumps", "ECHO_DEFAULTS",
]


def dumps(obj: Any) -> str:
    """Compact JSON text for one frame."""
    return orjson.dumps(obj).decode("utf-8")


class EventType(str, Enum):
    """Server → client event types (§3)."""

    CREATED = "response.created"
    IN_PROGRESS = "response.in_progress"
    COMPLETED = "response.completed"
    INCOMPLETE = "response.incomplete"
    FAILED = "response.failed"
    DONE = "response.done"  # accepted as terminal (§3.6), sent only under a compatibility flag
    ITEM_ADDED = "response.output_item.added"
    ITEM_DONE = "response.output_item.done"
    PART_ADDED = "response.content_part.added"
    PART_DONE = "response.content_part.done"
    TEXT_DELTA = "response.output_text.delta"
    TEXT_DONE = "response.output_text.done"
    ARGS_DELTA = "response.function_call_arguments.delta"
    ARGS_DONE = "response.function_call_arguments.done"
    ERROR = "error"


TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed", "response.done"})

# RFC 6455 §7.4.1 codes the official SDKs reconnect on (spec §6).
RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})


class ErrorCode(str, Enum):
    """``error.code`` values with a defined meaning (§4)."""

    PREVIOUS_RESPONSE_NOT_FOUND = "previous_response_not_found"
    CONNECTION_LIMIT = "websocket_connection_limit_reached"
    UNSUPPORTED_PARAMETER = "unsupported_parameter"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_JSON = "invalid_json"
    QUEUE_FULL = "response_queue_full"
    RATE_LIMIT = "rate_limit_exceeded"
    INVALID_REQUEST = "invalid_request_error"


_ITEM_TYPES = ("message", "function_call_output", "function_call", "reasoning")
_ROLES = ("user", "system", "developer", "assistant")
_TOOL_CHOICES = ("none", "auto", "required")
# echoed in the Response object (§2, §3.2), with the value the real API reports when they are absent
ECHO_DEFAULTS: dict[str, Any] = {
    "tool_choice": "auto", "parallel_tool_calls": True, "temperature": 1.0, "top_p": 1.0,
    "text": {"format": {"type": "text"}}, "truncation": "disabled", "reasoning": None,
    "max_output_tokens": None, "include": [],
}


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid request: {param}: {message}", code=ErrorCode.INVALID_REQUEST.value,
                          param=param)


def _typed(obj: dict[str, Any], key: str, types: type | tuple[type, ...], what: str) -> Any:
    """``obj[key]`` when absent, null or of ``types`` (bool is never a number); else InvalidRequest."""
    value = obj.get(key)
    if value is None:
        return None
    numeric = types in (int, float, (int, float))
    if (isinstance(value, bool) and numeric) or not isinstance(value, types):
        raise _invalid(key, f"expected {what}, got {type(value).__name__}")
    return value


def _check_item(i: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise _invalid("input", f"input[{i}]: expected an object")
    kind = item.get("type", "message")
    if kind not in _ITEM_TYPES:
        raise _invalid("input", f"input[{i}].type: unknown item type {kind!r}")
    if kind == "message":
        role = item.get("role", "user")
        if not isinstance(role, str) or role not in _ROLES:
            raise _invalid(f"input[{i}].role", f"expected one of {', '.join(_ROLES)}, got {role!r}")
        content = item.get("content")
        if not isinstance(content, (str, list)):
            raise _invalid(f"input[{i}].content", f"expected a string or an array, got {type(content).__name__}")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise _invalid(f"input[{i}].content[{j}]", "expected a content part object with a type")
                if "text" in part and not isinstance(part["text"], str):
                    raise _invalid(f"input[{i}].content[{j}].text", "expected a string")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise _invalid(f"input[{i}].call_id", "expected a string")
        if not isinstance(item.get("output"), (str, list)):
            raise _invalid(f"input[{i}].output", "expected a string or an array")


def _check_tool_choice(choice: Any, tools: list[Any]) -> Any:
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid("tool_choice", "a function tool_choice needs a string 'name'")
        if not any(isinstance(t, dict) and t.get("type") == "function" and t.get("name") == name for t in tools):
            raise _invalid("tool_choice", f"tool choice function {name!r} not found in 'tools'")
        return choice
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        return choice  # hosted-tool choices ({"type": "web_search"}, …): echoed, never called
    raise _invalid("tool_choice", f"expected one of {', '.join(_TOOL_CHOICES)} or a tool object, got {choice!r}")


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    """Client → server ``response.create``: the flat ``POST /v1/responses`` body plus ``type`` (§2)."""

    input: list[dict[str, Any]] | str
    model: str = "gpt-5.2"
    store: bool = True
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    instructions: str | None = None
    generate: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = (
        "input", "model", "store", "previous_response_id", "tools", "instructions", "generate",
        "background", "stream", "max_output_tokens", "metadata",
    )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "response.create", "model": self.model, "store": self.store}
        if self.previous_response_id is not None:
            out["previous_response_id"] = self.previous_response_id
        out["tools"] = self.tools
        for key in ("instructions", "generate", "background", "stream", "max_output_tokens", "metadata"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["input"] = self.input
        out.update(self.extra)
        return out

    def serialize(self) -> str:
        return dumps(self.to_dict())

    def input_items(self) -> list[dict[str, Any]]:
        """``input`` as a list of items (a plain string is one user message)."""
        if isinstance(self.input, str):
            return [{"type": "message", "role": "user", "content": self.input}]
        return self.input

    @property
    def tool_choice(self) -> Any:
        return self.extra.get("tool_choice") or "auto"

    def echoed(self) -> dict[str, Any]:
        """The request fields the Response object echoes (§2), with their defaults."""
        out = {key: default if self.extra.get(key) is None else self.extra[key]
               for key, default in ECHO_DEFAULTS.items()}
        out["max_output_tokens"] = self.max_output_tokens
        return out

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> ResponseCreate:
        """Validate a decoded ``response.create``; raise InvalidRequest naming the bad field as ``param``.

        Wrong types are rejected, never coerced (``store: "false"`` is an error, not ``store=true``).
        """
        if "response" in obj:  # the Realtime API's nested form; WebSocket mode is flat (§2)
            raise _invalid("response", "'response.create' is flat in WebSocket mode; send the body fields "
                                       "at the top level, not inside 'response'")
        inp = obj.get("input", [])
        if not isinstance(inp, (str, list)):
            raise _invalid("input", "expected a string or an array of items")
        if isinstance(inp, list):
            for i, item in enumerate(inp):
                _check_item(i, item)
        prev = _typed(obj, "previous_response_id", str, "a string")
        tools = _typed(obj, "tools", list, "an array") or []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise _invalid("tools", f"tools[{i}]: expected a tool object with a string 'type'")
        model = _typed(obj, "model", str, "a string")
        if model == "":
            raise _invalid("model", "expected a non-empty string")
        store = _typed(obj, "store", bool, "a boolean")
        for key in ("generate", "background", "stream", "parallel_tool_calls"):
            _typed(obj, key, bool, "a boolean")
        mot = _typed(obj, "max_output_tokens", int, "a positive integer")
        if mot is not None and mot < 1:
            raise _invalid("max_output_tokens", "expected a positive integer")
        for key in ("temperature", "top_p"):
            _typed(obj, key, (int, float), "a number")
        _typed(obj, "instructions", str, "a string")
        meta = _typed(obj, "metadata", dict, "an object")
        for key in ("text", "reasoning"):
            _typed(obj, key, dict, "an object")
        _typed(obj, "truncation", str, "a string")
        include = _typed(obj, "include", list, "an array of strings")
        if include is not None and not all(isinstance(x, str) for x in include):
            raise _invalid("include", "expected an array of strings")
        _check_tool_choice(obj.get("tool_choice"), tools)
        return cls(
            input=inp,
            model=model or "gpt-5.2",
            store=True if store is None else store,
            previous_response_id=prev,
            tools=tools,
            instructions=obj.get("instructions"),
            generate=obj.get("generate"),
            background=obj.get("background"),
            stream=obj.get("stream"),
            max_output_tokens=mot,
            metadata=meta,
            extra={k: v for k, v in obj.items() if k not in cls._KNOWN and k != "type"},
        )


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """A lifecycle event carrying a Response object: created, in_progress, or a terminal one."""

    type: str
    sequence_number: int
    response: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "response": self.response, **self.extra}


@dataclass(frozen=True, slots=True)
class OutputItemEvent:
    """``response.output_item.added`` / ``.done``."""

    type: str
    sequence_number: int
    output_index: int
    item: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "output_index": self.output_index,
                "item": self.item}


@dataclass(frozen=True, slots=True)
class ContentPartEvent:
    """``response.content_part.added`` / ``.done``."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "item_id": self.item_id,
                "output_index": self.output_index, "content_index": self.content_index, "part": self.part}


@dataclass(frozen=True, slots=True)
class TextDelta:
    """``response.output_text.delta``: one streamed piece of text."""

    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    type: str = "response.output_text.delta"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "item_id": self.item_id,
                "output_index": self.output_index, "content_index": self.content_index, "delta": self.delta,
                "logprobs": []}


@dataclass(frozen=True, slots=True)
class TextDone:
    """``response.output_text.done``: the whole text of one part."""

    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    type: str = "response.output_text.done"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "item_id": self.item_id,
                "output_index": self.output_index, "content_index": self.content_index, "text": self.text,
                "logprobs": []}


@dataclass(frozen=True, slots=True)
class ArgumentsDelta:
    """``response.function_call_arguments.delta``."""

    sequence_number: int
    item_id: str
    output_index: int
    delta: str
    type: str = "response.function_call_arguments.delta"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "item_id": self.item_id,
                "output_index": self.output_index, "delta": self.delta}


@dataclass(frozen=True, slots=True)
class ArgumentsDone:
    """``response.function_call_arguments.done``."""

    sequence_number: int
    item_id: str
    output_index: int
    name: str
    arguments: str
    type: str = "response.function_call_arguments.done"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self.sequence_number, "item_id": self.item_id,
                "output_index": self.output_index, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The WebSocket ``error`` envelope (§4); also parsed from the legacy flat form."""

    code: str | None
    message: str
    status: int | None = 400
    error_type: str = "invalid_request_error"
    param: str | None = None
    headers: dict[str, str] | None = None
    sequence_number: int | None = None
    type: str = "error"

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.error_type, "code": self.code, "message": self.message,
                               "param": self.param}
        if self.headers:
            err["headers"] = self.headers
        out: dict[str, Any] = {"type": "error", "status": self.status, "error": err}
        if self.sequence_number is not None:
            out["sequence_number"] = self.sequence_number
        return out


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Any other event type: kept whole, to be ignored by the conversation."""

    type: str
    sequence_number: int | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


ServerEvent = (
    ResponseEvent | OutputItemEvent | ContentPartEvent | TextDelta | TextDone | ArgumentsDelta | ArgumentsDone
    | ErrorEvent | UnknownEvent
)


def error_envelope(code: str, message: str, *, status: int = 400, param: str | None = None,
                   error_type: str = "invalid_request_error", headers: dict[str, str] | None = None) -> ErrorEvent:
    """An ``error`` envelope with the exact shape of §4."""
    return ErrorEvent(code=code, message=message, status=status, error_type=error_type, param=param,
                      headers=headers)


def _parse_error(obj: dict[str, Any]) -> ErrorEvent:
    err = obj.get("error")
    if isinstance(err, dict):
        return ErrorEvent(
            code=err.get("code"), message=str(err.get("message", "")), status=obj.get("status"),
            error_type=str(err.get("type", "invalid_request_error")), param=err.get("param"),
            headers=err.get("headers"), sequence_number=obj.get("sequence_number"),
        )
    # legacy flat form: {"type":"error","code","message","param","sequence_number"}
    return ErrorEvent(code=obj.get("code"), message=str(obj.get("message", "")), status=obj.get("status"),
                      param=obj.get("param"), sequence_number=obj.get("sequence_number"))


def _seq(obj: dict[str, Any]) -> int:
    seq = obj.get("sequence_number")
    if not isinstance(seq, int):
        raise RemoteProtocolError(f"{obj.get('type')}: sequence_number missing or not an integer")
    return seq


def parse_server_event(text: str | bytes) -> ServerEvent:
    """Parse one server text frame. Raises RemoteProtocolError for invalid JSON or a malformed event."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RemoteProtocolError(f"invalid JSON from server: {exc}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise RemoteProtocolError("server frame is not an event object with a string 'type'")
    kind = obj["type"]
    try:
        if kind == "response.output_text.delta":
            return TextDelta(_seq(obj), obj["item_id"], obj.get("output_index", 0), obj.get("content_index", 0),
                             obj["delta"])
        if kind == "response.function_call_arguments.delta":
            return ArgumentsDelta(_seq(obj), obj["item_id"], obj.get("output_index", 0), obj["delta"])
        if kind in _RESPONSE_TYPES and isinstance(obj.get("response"), dict):
            extra = {k: v for k, v in obj.items() if k not in ("type", "sequence_number", "response")}
            return ResponseEvent(kind, _seq(obj), obj["response"], extra)
        if kind in ("response.output_item.added", "response.output_item.done"):
            return OutputItemEvent(kind, _seq(obj), obj.get("output_index", 0), obj["item"])
        if kind in ("response.content_part.added", "response.content_part.done"):
            return ContentPartEvent(kind, _seq(obj), obj["item_id"], obj.get("output_index", 0),
                                    obj.get("content_index", 0), obj["part"])
        if kind == "response.output_text.done":
            return TextDone(_seq(obj), obj["item_id"], obj.get("output_index", 0), obj.get("content_index", 0),
                            obj["text"])
        if kind == "response.function_call_arguments.done":
            return ArgumentsDone(_seq(obj), obj["item_id"], obj.get("output_index", 0), obj.get("name", ""),
                                 obj["arguments"])
        if kind == "error":
            return _parse_error(obj)
    except KeyError as exc:
        raise RemoteProtocolError(f"{kind}: missing field {exc.args[0]!r}") from exc
    return UnknownEvent(kind, obj.get("sequence_number"), obj)


_RESPONSE_TYPES = frozenset({"response.created", "response.in_progress"}) | TERMINAL_TYPES


def parse_client_message(text: str | bytes) -> ResponseCreate:
    """Parse one client frame on the server side.

    Raises:
        InvalidRequest: with the error ``code`` the server should answer with (``invalid_json``,
            ``unknown_event_type``, ``invalid_request_error``), the ``param`` and, when the frame
            named one, the ``previous_response_id`` to evict.
    """
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Invalid JSON: {exc}", code=ErrorCode.INVALID_JSON.value) from exc
    if not isinstance(obj, dict):
        raise InvalidRequest("Expected a JSON object.", code=ErrorCode.INVALID_JSON.value)
    kind = obj.get("type")
    if kind != "response.create":
        # not a create: nothing was asked of the response it may name, so it is never evicted (§5)
        raise InvalidRequest(f"Unknown event type {kind!r}; only 'response.create' is supported.",
                             code=ErrorCode.UNKNOWN_EVENT_TYPE.value, param="type")
    prev = obj.get("previous_response_id")
    prev = prev if isinstance(prev, str) else None
    try:
        return ResponseCreate.parse(obj)
    except InvalidRequest as exc:
        raise InvalidRequest(str(exc), code=exc.code, param=exc.param, previous_response_id=prev) from exc
