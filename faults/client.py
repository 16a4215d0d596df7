"""The fault client: the one path the rest of agentsoak uses to reach a Toxiproxy.

``FaultClient.start()`` picks its target in this order:

1. ``TOXIPROXY_URL`` if set (must be loopback unless ``allow_remote=True``);
2. a ``toxiproxy-server`` binary on ``PATH``, started on a free loopback port;
3. the embedded server (``python -m faults``), started in its own process.

Started servers are :class:`~faults.child.Child` processes (a ready wait with a timeout, a clear
error, terminate-then-kill); they run from the installed package, never from a source path.

HTTP goes through toxiproxy-python's ``APIConsumer`` (a per-client subclass, since the library
keeps its endpoint in class attributes), with a timeout on every call. The client fills the
library's gaps itself: toxic update, ``version()`` parsing, 500s raised as errors. Every failure
raises ``ToxiproxyError(status, message)``. It is plain blocking code, safe in a gevent-patched
Locust process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from toxiproxy.api import APIConsumer

from .child import Child, ChildStartError
from .errors import BackendError, RemoteTargetError, ToxiproxyError, Unavailable
from .loopback import free_port, is_loopback

__all__ = ["FaultClient", "DownTimer", "is_loopback"]

DEFAULT_TIMEOUT_S = 5.0


def _error_of(resp: requests.Response) -> ToxiproxyError:
    try:
        body = json.loads(resp.content)
        message = body["error"] if isinstance(body, dict) and "error" in body else resp.text.strip()
    except ValueError:
        message = resp.text.strip() or resp.reason
    return ToxiproxyError(resp.status_code, str(message))


class DownTimer:
    """A running ``down_for``: the proxy comes back after the delay, or at ``cancel()``."""

    def __init__(self, client: FaultClient, name: str, seconds: float) -> None:
        self._client, self._name = client, name
        self._done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)
        self._thread.start()

    def _run(self, seconds: float) -> None:
        self._done.wait(seconds)
        try:
            self._client.set_enabled(self._name, True)
        except BaseException as exc:  # noqa: BLE001 - kept for the caller to inspect
            self.error = exc

    def cancel(self) -> None:
        """Re-enable now."""
        self._done.set()
        self._thread.join(DEFAULT_TIMEOUT_S * 2)

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class FaultClient:
    """A Toxiproxy API client with timeouts; owns the server process (``Child``) it started, if any."""

    def __init__(self, url: str, *, backend: str = "url", timeout: float = DEFAULT_TIMEOUT_S,
                 allow_remote: bool = False, child: Child | None = None) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname or not parts.port:
            raise BackendError(f"Toxiproxy URL {url!r}: expected http://HOST:PORT")
        if not allow_remote and not is_loopback(parts.hostname):
            raise RemoteTargetError(f"Toxiproxy URL {url!r} is not loopback; pass allow_remote=True")
        self.url = f"http://{parts.netloc}"
        self.backend = backend
        self.timeout = timeout
        self.allow_remote = allow_remote
        self._child = child
        self._api: type[APIConsumer] = type("APIConsumer", (APIConsumer,),
                                            {"host": parts.hostname, "port": parts.port})

    # -- starting -----------------------------------------------------------------------------
    @classmethod
    def start(cls, *, seed: int | None = None, log_path: str | None = None, workers: int = 1,
              timeout: float = DEFAULT_TIMEOUT_S, allow_remote: bool = False) -> FaultClient:
        """``TOXIPROXY_URL`` → ``toxiproxy-server`` on PATH → embedded process (see module doc)."""
        url = os.environ.get("TOXIPROXY_URL")
        if url:
            client = cls(url, backend="url", timeout=timeout, allow_remote=allow_remote)
            client.version()  # fail now, not at the first fault
            return client
        binary = shutil.which("toxiproxy-server")
        if binary:
            return cls._start_binary(binary, log_path, timeout)
        return cls.start_embedded(seed=seed, log_path=log_path, workers=workers, timeout=timeout)

    @classmethod
    def start_embedded(cls, *, seed: int | None = None, log_path: str | None = None, workers: int = 1,
                       timeout: float = DEFAULT_TIMEOUT_S) -> FaultClient:
        """Start ``python -m faults`` on a port it picks itself; ready once it says where and answers."""
        from .server import READY  # the embedded server's own ready line (imported only to start one)

        argv = [sys.executable, "-m", "faults", "--host", "127.0.0.1", "--port", "0", "--workers", str(workers)]
        if seed is not None:
            argv += ["--seed", str(seed)]
        try:
            # its own session: a terminal's Ctrl-C reaches only its owner, which stops it after the load
            child = Child.start("embedded Toxiproxy", argv, ready=READY, log_path=log_path, new_session=True)
        except ChildStartError as exc:
            raise BackendError(str(exc)) from None
        client = cls(f"http://{child.ready_line.removeprefix(READY)}", backend="embedded", timeout=timeout,
                     child=child)
        try:
            client.version()
        except ToxiproxyError:
            client.close()
            raise
        return client

    @classmethod
    def _start_binary(cls, binary: str, log_path: str | None, timeout: float) -> FaultClient:
        """A ``toxiproxy-server`` prints no ready line: pick a port, poll ``/version``."""
        last: ChildStartError | None = None
        for _ in range(3):  # a free port can be taken between probe and bind; retry
            port = free_port()
            client = cls(f"http://127.0.0.1:{port}", backend="binary", timeout=timeout)
            try:
                client._child = Child.start("toxiproxy-server", [binary, "-host", "127.0.0.1", "-port", str(port)],
                                            probe=client.version, log_path=log_path, new_session=True)
                return client
            except ChildStartError as exc:
                last = exc
        raise BackendError(str(last))

    @property
    def pid(self) -> int | None:
        """The process of the server this client started (None for ``TOXIPROXY_URL``)."""
        return None if self._child is None else self._child.pid

    def close(self) -> None:
        """Stop the server this client started (nothing for ``TOXIPROXY_URL``)."""
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def __enter__(self) -> FaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        fn = {"GET": self._api.get, "POST": self._api.post, "DELETE": self._api.delete}[method]
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if body is not None:
            kwargs["json"] = body
        try:
            # toxiproxy-python maps 400/404/409 to its own exceptions carrying the raw body.
            resp = fn(path, **kwargs)
        except requests.RequestException as exc:
            raise Unavailable(f"{method} {self.url}{path}: {exc}") from None
        except Exception as exc:  # ProxyExists / NotFound / InvalidToxic
            raw = exc.args[0] if exc.args else b""
            try:
                body = json.loads(raw)
                raise ToxiproxyError(int(body["status"]), str(body["error"])) from None
            except (ValueError, KeyError, TypeError):
                raise ToxiproxyError(0, f"{type(exc).__name__}: {raw!r}") from None
        if resp.status_code >= 400:  # the library lets 500s (and the rest) through
            raise _error_of(resp)
        return resp

    @staticmethod
    def _q(name: str) -> str:
        return quote(name, safe="")

    def version(self) -> str:
        """The server's version string, whatever the format (plain text before 2.7.0)."""
        text = self._call("GET", "/version").text.strip()
        try:
            value = json.loads(text)
            return str(value["version"]) if isinstance(value, dict) else str(value)
        except (ValueError, KeyError):
            return text

    def proxies(self) -> dict[str, dict[str, Any]]:
        return self._call("GET", "/proxies").json()

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0", *,
                     enabled: bool = True) -> dict[str, Any]:
        """Create a proxy; the reply carries the resolved ``listen`` (real port)."""
        host = upstream.rpartition(":")[0]
        if not self.allow_remote and not is_loopback(host):
            raise RemoteTargetError(f"upstream {upstream!r} is not loopback; pass allow_remote=True")
        return self._call("POST", "/proxies", {"name": name, "upstream": upstream, "listen": listen,
                                               "enabled": enabled}).json()

    def get_proxy(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{self._q(name)}").json()

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._q(name)}")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{self._q(name)}", {"enabled": enabled}).json()

    def down(self, name: str, seconds: float) -> None:
        """Take the proxy down (refuse new connections, cut live ones) for ``seconds``; blocks."""
        with self.disabled(name):
            time.sleep(seconds)

    def down_for(self, name: str, seconds: float) -> DownTimer:
        """Non-blocking ``down``: returns at once; the proxy comes back after ``seconds``."""
        self.set_enabled(name, False)
        return DownTimer(self, name, seconds)

    @contextlib.contextmanager
    def disabled(self, name: str) -> Iterator[None]:
        """The proxy is down inside the ``with`` block."""
        self.set_enabled(name, False)
        try:
            yield
        finally:
            self.set_enabled(name, True)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{self._q(proxy)}/toxics").json()

    def add_toxic(self, proxy: str, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, attributes: dict[str, int] | None = None) -> dict[str, Any]:
        body = {"name": name or f"{type}_{stream}", "type": type, "stream": stream, "toxicity": toxicity,
                "attributes": attributes or {}}
        return self._call("POST", f"/proxies/{self._q(proxy)}/toxics", body).json()

    def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, int] | None = None,
                     toxicity: float | None = None) -> dict[str, Any]:
        """Partial update in place (toxiproxy-python can only delete and re-add)."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._call("POST", f"/proxies/{self._q(proxy)}/toxics/{self._q(name)}", body).json()

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._q(proxy)}/toxics/{self._q(name)}")

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self._call("POST", "/reset")
