"""The proxy collection: the API's single source of truth and Toxiproxy's rules (spec §4).

Every mutation runs under one lock, validates first, then drives the data plane and records the
result, so the JSON the API returns is always what the plane serves. Nothing here waits on the
data path: plane commands only bind, close or re-point toxics.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from .decode import fold, get_bool, get_float32, get_int, get_str, mismatch
from .errors import ApiError
from .installed import Installed, find_toxic
from .proxy import resolve_listen
from .toxics import TOXICS, ToxicInputError, make_toxic

__all__ = ["Collection", "ProxyRecord"]

PROXY_FIELDS = ("name", "listen", "upstream", "enabled")
TOXIC_FIELDS = ("name", "type", "stream", "toxicity", "attributes")
DEFAULT_LISTEN = "127.0.0.1:0"  # ours: Toxiproxy binds all interfaces for an empty listen (§4.1)


class Plane(Protocol):
    async def add(self, name: str, listen: str, upstream: str) -> None: ...
    async def start(self, name: str) -> str: ...
    async def stop(self, name: str) -> None: ...
    async def set_address(self, name: str, listen: str, upstream: str) -> None: ...
    async def remove(self, name: str) -> None: ...
    async def add_toxic(self, name: str, rec: dict[str, Any]) -> None: ...
    async def update_toxic(self, name: str, toxic: str, toxicity: float, attributes: dict[str, int]) -> None: ...
    async def remove_toxic(self, name: str, toxic: str) -> None: ...


@dataclass
class ProxyRecord:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[Installed] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ordered = [t for t in self.toxics if t.direction == "upstream"]
        ordered += [t for t in self.toxics if t.direction == "downstream"]
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "Logger": {}, "toxics": [t.to_json() for t in ordered]}


def _reported(listen: str) -> str:
    return resolve_listen(listen)[2]


def _with_index(exc: ApiError, n: int) -> ApiError:
    return ApiError(exc.status, f"{exc.message} at proxy {n}")


class Collection:
    """All proxies, keyed by name in creation order."""

    def __init__(self, plane: Plane, *, shared_ports: bool = False) -> None:
        self.plane = plane
        self.shared_ports = shared_ports  # SO_REUSEPORT hides clashes between our own proxies
        self.proxies: dict[str, ProxyRecord] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> ProxyRecord:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, "proxy not found") from None

    # -- proxies -------------------------------------------------------------------------------
    @staticmethod
    def _decode_proxy(body: Any) -> dict[str, Any]:
        d = fold(body, PROXY_FIELDS, "toxiproxy.Proxy")
        return {"name": get_str(d, "name", "Proxy"), "listen": get_str(d, "listen", "Proxy"),
                "upstream": get_str(d, "upstream", "Proxy"), "enabled": get_bool(d, "enabled", "Proxy")}

    @staticmethod
    def _require(p: dict[str, Any]) -> None:
        for key in ("name", "upstream"):
            if not p[key]:
                raise ApiError(400, f"missing required field: {key}")

    def _check_clash(self, name: str, listen: str) -> None:
        if not self.shared_ports:
            return
        host, port, shown = resolve_listen(listen)
        for other in self.proxies.values():
            if other.name != name and other.enabled and port and other.listen.rsplit(":", 1)[1] == str(port):
                raise ApiError(500, f"listen tcp {shown}: bind: address already in use")

    async def _start(self, rec: ProxyRecord) -> None:
        self._check_clash(rec.name, rec.listen)
        rec.listen = await self.plane.start(rec.name)
        rec.enabled = True

    async def _new(self, p: dict[str, Any]) -> ProxyRecord:
        rec = ProxyRecord(p["name"], p["listen"] or DEFAULT_LISTEN, p["upstream"], False)
        await self.plane.add(rec.name, rec.listen, rec.upstream)
        if p["enabled"] is not False:
            try:
                await self._start(rec)
            except ApiError:
                await self.plane.remove(rec.name)
                raise
        self.proxies[rec.name] = rec
        return rec

    async def create(self, body: Any) -> dict[str, Any]:
        async with self.lock:
            p = self._decode_proxy(body)
            self._require(p)
            if p["name"] in self.proxies:
                raise ApiError(409, "proxy already exists")
            return (await self._new(p)).to_json()

    async def update(self, name: str, body: Any) -> dict[str, Any]:
        async with self.lock:
            rec = self.get(name)
            p = self._decode_proxy(body)  # partial; name and toxics are ignored (no rename)
            listen = rec.listen if p["listen"] is None else (p["listen"] or DEFAULT_LISTEN)
            upstream = rec.upstream if p["upstream"] is None else p["upstream"]
            enabled = rec.enabled if p["enabled"] is None else p["enabled"]
            if _reported(listen) != rec.listen or upstream != rec.upstream:
                await self.plane.stop(name)
                rec.enabled = False
                await self.plane.set_address(name, listen, upstream)
                rec.listen, rec.upstream = listen, upstream
            if enabled and not rec.enabled:
                await self._start(rec)
            elif not enabled and rec.enabled:
                await self.plane.stop(name)
                rec.enabled = False
            return rec.to_json()

    async def delete(self, name: str) -> None:
        async with self.lock:
            self.get(name)
            await self.plane.remove(name)
            del self.proxies[name]

    async def populate(self, body: Any) -> list[dict[str, Any]]:
        async with self.lock:
            body = [] if body is None else body
            if not isinstance(body, list):
                raise mismatch(body, "value", "[]toxiproxy.Proxy")
            items = []
            for n, item in enumerate(body, 1):
                p = self._decode_proxy(item)
                try:
                    self._require(p)
                except ApiError as exc:
                    raise _with_index(exc, n) from None
                items.append(p)
            done: list[dict[str, Any]] = []
            try:
                for p in items:
                    old = self.proxies.get(p["name"])
                    if old is not None:
                        try:
                            same = _reported(p["listen"] or DEFAULT_LISTEN) == old.listen
                        except ApiError:
                            same = False
                        if same and p["upstream"] == old.upstream:
                            done.append(old.to_json())  # untouched, even its enabled state
                            continue
                        await self.plane.remove(old.name)
                        del self.proxies[old.name]
                    done.append((await self._new(p)).to_json())
            except ApiError as exc:
                exc.proxies = done  # type: ignore[attr-defined]  # the API adds them to the error body
                raise
            return done

    async def reset(self) -> None:
        async with self.lock:
            for rec in self.proxies.values():
                if not rec.enabled:
                    await self._start(rec)
                for t in list(rec.toxics):
                    await self.plane.remove_toxic(rec.name, t.name)
                    rec.toxics.remove(t)

    # -- toxics --------------------------------------------------------------------------------
    @staticmethod
    def _attributes(kind: str, raw: Any, base: dict[str, int]) -> dict[str, int]:
        cls = TOXICS[kind]
        names = tuple(f.name for f in dataclasses.fields(cls))
        if raw is None:
            return dict(base)
        if not isinstance(raw, dict):
            raise mismatch(raw, f"struct field {cls.go_name}.attributes", f"toxics.{cls.go_name}")
        d = fold(raw, names, f"toxics.{cls.go_name}")
        out = dict(base)
        for key in names:
            v = get_int(d, key, f"{cls.go_name}.attributes.{key}")
            if v is not None:
                out[key] = v
        return out

    @staticmethod
    def _checked(kind: str, attributes: dict[str, int], toxicity: float) -> Any:
        if not 0.0 <= toxicity <= 1.0:
            raise ApiError(400, "toxicity must be between 0 and 1")
        try:
            return make_toxic(kind, attributes)
        except ToxicInputError as exc:
            raise ApiError(400, str(exc)) from None

    async def add_toxic(self, proxy: str, body: Any) -> dict[str, Any]:
        async with self.lock:
            rec = self.get(proxy)
            d = fold(body, TOXIC_FIELDS, "toxics.ToxicWrapper")
            name = get_str(d, "name", "ToxicWrapper") or ""
            kind = get_str(d, "type", "ToxicWrapper") or ""
            stream = get_str(d, "stream", "ToxicWrapper")
            stream = "downstream" if stream is None else stream
            toxicity = get_float32(d, "toxicity", "ToxicWrapper.toxicity")
            toxicity = 1.0 if toxicity is None else toxicity
            direction = stream.lower()
            if direction not in ("upstream", "downstream"):
                raise ApiError(400, "stream was invalid, can be either upstream or downstream")
            name = name or f"{kind}_{stream}"
            if kind not in TOXICS:
                raise ApiError(400, "invalid toxic type")
            if any(t.name == name for t in rec.toxics):
                raise ApiError(409, "toxic already exists")
            attributes = self._attributes(kind, d.get("attributes"), {})
            toxic = self._checked(kind, attributes, toxicity)
            entry = Installed(name, kind, stream, direction, toxicity, toxic)
            await self.plane.add_toxic(proxy, {"name": name, "type": kind, "stream": stream,
                                               "direction": direction, "toxicity": toxicity,
                                               "attributes": toxic.attributes()})
            rec.toxics.append(entry)
            return entry.to_json()

    async def update_toxic(self, proxy: str, name: str, body: Any) -> dict[str, Any]:
        async with self.lock:
            entry = find_toxic(self.get(proxy).toxics, name)
            d = fold(body, TOXIC_FIELDS, "toxics.ToxicWrapper")  # name, type and stream are ignored
            toxicity = get_float32(d, "toxicity", "ToxicWrapper.toxicity")
            toxicity = entry.toxicity if toxicity is None else toxicity
            attributes = self._attributes(entry.type, d.get("attributes"), entry.toxic.attributes())
            toxic = self._checked(entry.type, attributes, toxicity)
            await self.plane.update_toxic(proxy, name, toxicity, toxic.attributes())
            entry.toxic, entry.toxicity = toxic, toxicity
            return entry.to_json()

    async def remove_toxic(self, proxy: str, name: str) -> None:
        async with self.lock:
            rec = self.get(proxy)
            entry = find_toxic(rec.toxics, name)
            await self.plane.remove_toxic(proxy, name)
            rec.toxics.remove(entry)

