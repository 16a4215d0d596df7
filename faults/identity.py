"""Who a connection is: the client id an agent sends with its WebSocket handshake.

Every agent names each connection it opens in the ``X-Agentsoak-Conn`` request header, as
``<agent id>/c<n>`` (``agent-0007/c3``: the third WebSocket agent 7 opened; ``/h<n>`` for its HTTP
transport's connections), the ``conn`` id of its ledger events. The embedded proxy
keys a connection's toxicity draws by that id instead of its accept ordinal
(:mod:`faults.draws`), and the reference server records it with each session and in the replies of
the protocol faults that pick connections. So which connections a fault hits depends on which agent
opened them, not on how many other agents were connected: a replay that runs only some agents (by
their indices) gets the same draws for them.

A client that sends no such header (a plain TCP client, a foreign tool) keeps the ordinal key.
"""

from __future__ import annotations

import re

__all__ = ["CLIENT_HEADER", "PROXY_NAME", "agent_name", "agent_of", "client_from_head", "index_of", "is_client_id"]

#: the handshake header that carries the client id
CLIENT_HEADER = "X-Agentsoak-Conn"
#: the name of the Toxiproxy proxy a run creates for its agents (part of every toxicity draw's key)
PROXY_NAME = "agentsoak"
#: how much of a connection's first bytes the proxy reads for the header (a request head is smaller)
HEAD_LIMIT = 8192

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[ch][0-9]{1,9}")
_HEADER_LINE = re.compile(rb"\r\n" + CLIENT_HEADER.lower().encode() + rb"[ \t]*:[ \t]*([^\r\n]{1,128})\r\n")


def agent_name(index: int) -> str:
    """The agent id of global index ``index`` (1-based): ``agent-0001``; wider past 9999."""
    return f"agent-{index:04d}"


def index_of(agent: str) -> int | None:
    """The index of agent id ``agent`` (``agent-0007`` -> 7), or None for anything else."""
    prefix, _, digits = agent.partition("-")
    return int(digits) if prefix == "agent" and digits.isdigit() and int(digits) > 0 else None


def is_client_id(value: object) -> bool:
    """Whether ``value`` is a client id such as ``agent-0007/c3``."""
    return isinstance(value, str) and _CLIENT_ID.fullmatch(value) is not None


def agent_of(client: str) -> str:
    """The agent part of a client id: ``agent-0007/c3`` -> ``agent-0007``."""
    return client.rsplit("/", 1)[0]


def client_from_head(data: bytes) -> str | None:
    """The client id in an HTTP request head at the start of ``data`` (the header name is
    case-insensitive, RFC 9110 §5.1), or None when there is none, or it is not a valid id."""
    head = data[:HEAD_LIMIT]
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = _HEADER_LINE.search(head[: end + 2].lower())
    if match is None:
        return None
    start = match.start(1)  # the value as sent (ids are case-sensitive)
    value = head[start:start + len(match.group(1))].decode("ascii", "replace").strip()
    return value if is_client_id(value) else None
