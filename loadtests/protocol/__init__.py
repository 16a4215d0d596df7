"""The sans-I/O protocol core of Responses API WebSocket mode, shared by the agent and the server.

No sockets and no clocks: callers pass text and monotonic ``now`` in, and send the text they get back.
"""

from .builder import IdSource, ResponseBuilder, usage
from .conversation import TRANSITIONS, Conversation, Notice, TurnRequest, TurnResult, TurnState
from .digest import EMPTY_DIGEST, count_tokens, digest_items, extend_digest, item_tokens, normalize_item
from .errors import InvalidRequest, LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    RECOVERABLE_CLOSE_CODES,
    TERMINAL_TYPES,
    ArgumentsDelta,
    ArgumentsDone,
    ContentPartEvent,
    ErrorCode,
    ErrorEvent,
    EventType,
    OutputItemEvent,
    ResponseCreate,
    ResponseEvent,
    ServerEvent,
    TextDelta,
    TextDone,
    UnknownEvent,
    dumps,
    error_envelope,
    parse_client_message,
    parse_server_event,
)
from .metrics import TurnMetrics
from .sse import SseDecoder, SseMessage, encode_event

__all__ = [
    "IdSource", "ResponseBuilder", "usage", "TRANSITIONS", "Conversation", "Notice", "TurnRequest", "TurnResult",
    "TurnState", "EMPTY_DIGEST", "count_tokens", "digest_items", "extend_digest", "item_tokens", "normalize_item",
    "InvalidRequest", "LocalProtocolError", "ProtocolError", "RemoteProtocolError", "RECOVERABLE_CLOSE_CODES", "TERMINAL_TYPES",
    "ArgumentsDelta", "ArgumentsDone", "ContentPartEvent", "ErrorCode", "ErrorEvent", "EventType",
    "OutputItemEvent", "ResponseCreate", "ResponseEvent", "ServerEvent", "TextDelta", "TextDone", "UnknownEvent",
    "dumps", "error_envelope", "parse_client_message", "parse_server_event", "TurnMetrics",
    "SseDecoder", "SseMessage", "encode_event",
]
