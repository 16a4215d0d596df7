"""A small blocking client for the reference server's admin API (protocol faults).

The routes and bodies are those of docs/admin-api.md. The client is plain ``urllib`` so it works
unchanged inside a gevent-patched Locust master. The server answers ``/admin/`` only to loopback
peers, and this client refuses any other base URL, so a profile cannot aim protocol faults at a
remote host.

Every failure (a refused URL, an invalid argument, a transport error, an error reply) raises
``ServerAdminError``; ``status`` is the HTTP status, or None when no reply was received.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import FaultError
from .loopback import is_loopback

__all__ = [
    "CLOSE_CODES",
    "REFUSE_STATUSES",
    "STALL_WHERE",
    "AdminRequest",
    "ServerAdmin",
    "ServerAdminError",
    "wrong_state_request",
]

#: 1001/1006/1011/1012/1013 are recoverable; 1000/1008 are not (responses-websocket.md §6).
CLOSE_CODES = frozenset({1000, 1001, 1006, 1008, 1011, 1012, 1013})
REFUSE_STATUSES = frozenset({401, 426, 429})
STALL_WHERE = frozenset({"first_event", "between_deltas", "after_headers"})  # after_headers: HTTP only


class ServerAdminError(FaultError):
    """The admin API call could not be made or was refused."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{status}: {message}")
        self.message = message
        self.status = status


@dataclass(frozen=True)
class AdminRequest:
    """One admin call: method, path under the base URL, JSON body (None: no body)."""

    method: str
    path: str
    body: dict[str, Any] | None = None


def _share(share: float) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ServerAdminError(f"share must be a number between 0 and 1, got {share!r}")
    return float(share)


def _aimed(body: dict[str, Any], agents: Sequence[str] | None) -> dict[str, Any]:
    """``body`` aimed at the connections of ``agents`` only (None: at every connection)."""
    if agents is None:
        return body
    if isinstance(agents, str) or not all(isinstance(a, str) and a for a in agents):
        raise ServerAdminError(f"agents must be a list of agent ids, got {agents!r}")
    return {**body, "agents": list(agents)}


def close_request(code: int, share: float = 1.0, agents: Sequence[str] | None = None) -> AdminRequest:
    if code not in CLOSE_CODES or isinstance(code, bool):
        raise ServerAdminError(f"close code must be one of {sorted(CLOSE_CODES)}, got {code!r}")
    return AdminRequest("POST", "/admin/close", _aimed({"code": int(code), "share": _share(share)}, agents))


def stall_request(where: str, ms: int, share: float = 1.0) -> AdminRequest:
    if where not in STALL_WHERE:
        raise ServerAdminError(f"stall where must be one of {sorted(STALL_WHERE)}, got {where!r}")
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ServerAdminError(f"stall ms must be an integer >= 0, got {ms!r}")
    return AdminRequest("POST", "/admin/stall", {"where": where, "ms": ms, "share": _share(share)})


def leak_request(size: int) -> AdminRequest:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 64 * 2**20:
        raise ServerAdminError(f"leak bytes must be an integer from 0 to 64 MiB, got {size!r}")
    return AdminRequest("POST", "/admin/leak", {"bytes": size})


def refuse_request(status: int, retry_after_s: float | None = None, share: float = 1.0) -> AdminRequest:
    if status not in REFUSE_STATUSES or isinstance(status, bool):
        raise ServerAdminError(f"refuse status must be one of {sorted(REFUSE_STATUSES)}, got {status!r}")
    body: dict[str, Any] = {"status": int(status), "share": _share(share)}
    if retry_after_s is not None:
        if (
            isinstance(retry_after_s, bool)
            or not isinstance(retry_after_s, (int, float))
            or retry_after_s < 0
        ):
            raise ServerAdminError(f"retry_after_s must be a number >= 0, got {retry_after_s!r}")
        body["retry_after_s"] = retry_after_s
    return AdminRequest("POST", "/admin/refuse", body)


def wrong_state_request(share: float = 1.0, turns: int | None = None,
                        agents: Sequence[str] | None = None) -> AdminRequest:
    body: dict[str, Any] = _aimed({"share": _share(share)}, agents)
    if turns is not None:
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise ServerAdminError(f"wrong_state turns must be an integer >= 1, got {turns!r}")
        body["turns"] = turns
    return AdminRequest("POST", "/admin/wrong_state", body)


def parse_reply(status: int, body: bytes) -> dict[str, Any]:
    """Decode a reply: 2xx gives its JSON object; anything else raises ``ServerAdminError``."""
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        data = None
    if 200 <= status < 300:
        if not isinstance(data, dict):
            raise ServerAdminError("reply is not a JSON object", status)
        return data
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        raise ServerAdminError(data["error"], status)
    text = body.decode("utf-8", "replace").strip()[:200]
    raise ServerAdminError(text or "error reply with no body", status)


class ServerAdmin:
    """Blocking client for ``/admin/*`` on the reference server.

    Args:
        base_url: ``http://127.0.0.1:PORT`` (loopback only).
        timeout: seconds per call.

    Raises:
        ServerAdminError: for a non-loopback or non-http base URL.
    """

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme != "http":
            raise ServerAdminError(f"admin base URL must be http://, got {base_url!r}")
        if not is_loopback(parsed.hostname):
            raise ServerAdminError(f"admin API is loopback-only; refusing {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Never route loopback calls through an http_proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def close(self, code: int, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]:
        """Close ``share`` of live sockets (of ``agents`` only, when given) with ``code`` (1006: TCP
        drop, no Close frame). The reply's ``clients`` are the client ids of the sockets hit."""
        return self.call(close_request(code, share, agents))

    def limit(self, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]:
        """Send the connection-limit error now to ``share`` of live sockets (of ``agents`` only)."""
        return self.call(AdminRequest("POST", "/admin/limit", _aimed({"share": _share(share)}, agents)))

    def evict(self, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]:
        """Empty the connection-local cache of ``share`` of live sockets (of ``agents`` only)."""
        return self.call(AdminRequest("POST", "/admin/evict", _aimed({"share": _share(share)}, agents)))

    def wipe_store(self) -> dict[str, Any]:
        """Empty the server-wide response store."""
        return self.call(AdminRequest("POST", "/admin/wipe_store", {}))

    def stall(self, where: str, ms: int, share: float = 1.0) -> dict[str, Any]:
        """Standing: stall new responses ``ms`` before the first event or between deltas."""
        return self.call(stall_request(where, ms, share))

    def clear_stall(self) -> dict[str, Any]:
        return self.call(AdminRequest("DELETE", "/admin/stall"))

    def refuse(self, status: int, retry_after_s: float | None = None, share: float = 1.0) -> dict[str, Any]:
        """Standing: answer new upgrades with ``status`` (429 with Retry-After)."""
        return self.call(refuse_request(status, retry_after_s, share))

    def clear_refuse(self) -> dict[str, Any]:
        return self.call(AdminRequest("DELETE", "/admin/refuse"))

    def leak(self, size: int) -> dict[str, Any]:
        """Standing: every new connection keeps a buffer of ``size`` bytes for the server's life (on purpose)."""
        return self.call(leak_request(size))

    def clear_leak(self) -> dict[str, Any]:
        return self.call(AdminRequest("DELETE", "/admin/leak"))

    def wrong_state(self, share: float = 1.0, turns: int | None = None,
                    agents: Sequence[str] | None = None) -> dict[str, Any]:
        """Standing: serve chained turns of ``share`` of the live connections (of ``agents`` only, when
        given; picked now, seeded) from a state other than the one their ``previous_response_id``
        names, at most ``turns`` of them. The reply gains ``affected``: how many were picked."""
        reply = self.call(wrong_state_request(share, turns, agents))
        connections = reply.get("connections")
        return {**reply, "affected": len(connections)} if isinstance(connections, list) else reply

    def clear_wrong_state(self) -> dict[str, Any]:
        return self.call(AdminRequest("DELETE", "/admin/wrong_state"))

    def reset(self) -> dict[str, Any]:
        """End every standing fault."""
        return self.call(AdminRequest("POST", "/admin/reset"))

    def stats(self) -> dict[str, Any]:
        return self.call(AdminRequest("GET", "/admin/stats"))

    def call(self, req: AdminRequest) -> dict[str, Any]:
        """Send one request and decode the reply."""
        data = None if req.body is None else json.dumps(req.body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        http_req = urllib.request.Request(
            self.base_url + req.path, data=data, method=req.method, headers=headers
        )
        try:
            with self._opener.open(http_req, timeout=self.timeout) as resp:
                return parse_reply(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            return parse_reply(exc.code, exc.read() or b"")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerAdminError(f"{req.method} {req.path} failed: {reason}") from exc
