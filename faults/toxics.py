"""Toxics: one small class per Toxiproxy toxic type, registered by name (spec §6).

A toxic holds only its attributes, with Toxiproxy's names and units (all JSON integers). The
link (``faults.link``) runs it once per chunk on every connection whose toxicity draw selected
it; toxics never see toxicity. The interface is tiny:

* ``pipe(chunk, emit, state, ctx)`` forwards a chunk by awaiting ``emit`` zero or more times;
* optional abilities are plain hooks/attributes with no-op defaults: ``new_state()``,
  ``attach``/``update``/``detach`` (timers), ``on_eof`` (delay the close) and
  ``close_on_remove`` (removing the toxic closes its connections).

``ctx`` is the link direction (see ``Pipe``): it owns the seeded RNG and the cancellable waits.
A wait returns ``False`` when an API change interrupted it; the toxic must then forward what it
holds at once ("never drop data on the floor", spec §8).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

__all__ = ["TOXICS", "Chunk", "Pipe", "Toxic", "register", "make_toxic", "ToxicInputError"]


class ToxicInputError(ValueError):
    """An attribute is out of range (spec §9); the message is the API's error text."""


class Chunk:
    """One socket read: ``data`` and ``ts``, the (virtual) monotonic time it entered the chain."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Pipe(Protocol):
    """What a toxic may use from its link direction."""

    rng: random.Random

    def now(self) -> float: ...
    async def sleep(self, seconds: float) -> bool: ...
    async def sleep_until(self, deadline: float) -> bool: ...
    def call_later(self, seconds: float, callback: Callable[[], None]) -> Any: ...
    def close(self, *, abort: bool = False) -> None: ...


Emit = Callable[[Chunk], Awaitable[None]]
TOXICS: dict[str, type[Toxic]] = {}


def register(kind: str, go_name: str) -> Callable[[type[Toxic]], type[Toxic]]:
    """Class decorator: make ``cls`` the toxic for ``type: kind`` (``go_name`` is used in errors)."""

    def deco(cls: type[Toxic]) -> type[Toxic]:
        cls.kind = kind
        cls.go_name = go_name
        TOXICS[kind] = cls
        return cls

    return deco


def make_toxic(kind: str, attributes: dict[str, int] | None = None) -> Toxic:
    """Build and check a toxic of type ``kind``; unknown attribute names are ignored like Go's."""
    cls = TOXICS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    toxic = cls(**{k: v for k, v in (attributes or {}).items() if k in names})
    toxic.check()
    return toxic


@dataclass
class Toxic:
    """Base class: passes data through unchanged."""

    kind: ClassVar[str] = ""
    go_name: ClassVar[str] = ""
    close_on_remove: ClassVar[bool] = False

    def attributes(self) -> dict[str, int]:
        """Every attribute, zero-filled, in Toxiproxy's order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def check(self) -> None:
        """Reject the inputs that crash or hang real Toxiproxy (spec §9)."""
        for name, value in self.attributes().items():
            if value < 0:
                raise ToxicInputError(f"{self.kind}: {name} must be >= 0")

    def new_state(self) -> Any:
        return None

    def attach(self, state: Any, ctx: Pipe) -> None:
        """The toxic joined a live connection (its draw selected it)."""

    def update(self, state: Any, ctx: Pipe) -> None:
        """Its attributes changed; state is kept."""

    def detach(self, state: Any, ctx: Pipe) -> None:
        """It left the connection's chain (removed, or the connection closed)."""

    async def pipe(self, chunk: Chunk, emit: Emit, state: Any, ctx: Pipe) -> None:
        await emit(chunk)

    async def on_eof(self, state: Any, ctx: Pipe) -> None:
        """The source reached EOF; the close waits for this to return."""


@register("noop", "NoopToxic")
@dataclass
class Noop(Toxic):
    """Passes data through unchanged."""


@register("latency", "LatencyToxic")
@dataclass
class Latency(Toxic):
    """Releases each chunk ``latency`` ± U[-jitter, +jitter) ms after it was read (time queued counts)."""

    latency: int = 0
    jitter: int = 0

    async def pipe(self, chunk: Chunk, emit: Emit, state: Any, ctx: Pipe) -> None:
        delay = self.latency
        if self.jitter > 0:
            delay += ctx.rng.randrange(-self.jitter, self.jitter)
        if delay > 0:
            # Advance the chunk's virtual time, not to "now": stacked latency toxics add up,
            # back-to-back chunks do not (spec §6).
            chunk.ts += delay / 1000
            await ctx.sleep_until(chunk.ts)
        await emit(chunk)


class _Pace:
    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next = 0.0


@register("bandwidth", "BandwidthToxic")
@dataclass
class Bandwidth(Toxic):
    """Limits this direction of each connection to ``rate`` KB/s (1 KB = 1000 bytes), 100 ms slices."""

    rate: int = 0

    def check(self) -> None:
        if self.rate <= 0:
            raise ToxicInputError("bandwidth: rate must be > 0")

    def new_state(self) -> _Pace:
        return _Pace()

    async def pipe(self, chunk: Chunk, emit: Emit, state: _Pace, ctx: Pipe) -> None:
        data, per_slice = chunk.data, self.rate * 100  # bytes per 100 ms
        while data:
            piece, data = data[:per_slice], data[per_slice:]
            # A virtual clock carries rounding (and idle credit up to "now") between chunks.
            state.next = max(state.next, ctx.now()) + len(piece) / (self.rate * 1000)
            if not await ctx.sleep_until(state.next):
                state.next = ctx.now()
                piece, data = piece + data, b""  # interrupted: flush the rest whole
            await emit(Chunk(piece, chunk.ts))


@register("slow_close", "SlowCloseToxic")
@dataclass
class SlowClose(Toxic):
    """Delays the close by ``delay`` ms after the source reaches EOF; data flows normally."""

    delay: int = 0

    async def on_eof(self, state: Any, ctx: Pipe) -> None:
        await ctx.sleep(self.delay / 1000)


class _Timer:
    __slots__ = ("handle", "start")

    def __init__(self) -> None:
        self.handle: Any = None
        self.start = 0.0

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


@register("timeout", "TimeoutToxic")
@dataclass
class Timeout(Toxic):
    """Drops all data; closes the connection after ``timeout`` ms without data (0 = never)."""

    close_on_remove: ClassVar[bool] = True  # spec §8: even where the draw was noop
    timeout: int = 0

    def new_state(self) -> _Timer:
        return _Timer()

    def _arm(self, state: _Timer, ctx: Pipe) -> None:
        state.cancel()
        if self.timeout > 0:
            state.handle = ctx.call_later(self.timeout / 1000, ctx.close)

    attach = update = _arm

    def detach(self, state: _Timer, ctx: Pipe) -> None:
        state.cancel()

    async def pipe(self, chunk: Chunk, emit: Emit, state: _Timer, ctx: Pipe) -> None:
        self._arm(state, ctx)  # an inactivity timer: every chunk restarts it


@register("reset_peer", "ResetToxic")
@dataclass
class ResetPeer(Toxic):
    """On the first data, drops it and after ``timeout`` ms closes the connection with a TCP RST."""

    timeout: int = 0

    def new_state(self) -> _Timer:
        return _Timer()

    def _schedule(self, state: _Timer, ctx: Pipe) -> None:
        remaining = state.start + self.timeout / 1000 - ctx.now()
        state.cancel()
        state.handle = ctx.call_later(max(0.0, remaining), lambda: ctx.close(abort=True))

    def update(self, state: _Timer, ctx: Pipe) -> None:
        if state.handle is not None:  # the timer is cancellable (ours, spec §9)
            self._schedule(state, ctx)

    def detach(self, state: _Timer, ctx: Pipe) -> None:
        state.cancel()

    async def pipe(self, chunk: Chunk, emit: Emit, state: _Timer, ctx: Pipe) -> None:
        if state.handle is None:
            state.start = ctx.now()
            self._schedule(state, ctx)
        # This and any later data are dropped: the connection is about to be reset.


@register("slicer", "SlicerToxic")
@dataclass
class Slicer(Toxic):
    """Splits chunks into ~``average_size`` ± ``size_variation`` byte writes, ``delay`` µs apart."""

    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def check(self) -> None:
        if self.average_size <= 0:
            raise ToxicInputError("slicer: average_size must be > 0")
        if not 0 <= self.size_variation < self.average_size:
            raise ToxicInputError("slicer: size_variation must be >= 0 and < average_size")
        super().check()

    def cuts(self, n: int, rng: Any) -> list[int]:
        """Piece boundaries for ``n`` bytes: recursive halving with variation, as Toxiproxy does."""
        out, todo = [0], [(0, n)]
        while todo:
            start, end = todo.pop()
            if end - start <= self.average_size:
                out.append(end)
                continue
            mid = start + (end - start) // 2
            if self.size_variation > 0:
                mid += rng.randrange(2 * self.size_variation) - self.size_variation
            mid = min(max(mid, start + 1), end - 1)
            todo += [(mid, end), (start, mid)]  # left half first (stack)
        return sorted(out)

    async def pipe(self, chunk: Chunk, emit: Emit, state: Any, ctx: Pipe) -> None:
        cuts = self.cuts(len(chunk.data), ctx.rng)
        for i in range(len(cuts) - 1):
            await emit(Chunk(chunk.data[cuts[i] : cuts[i + 1]], chunk.ts))
            if i < len(cuts) - 2 and not await ctx.sleep(self.delay / 1_000_000):
                await emit(Chunk(chunk.data[cuts[i + 1] :], chunk.ts))  # interrupted: rest whole
                return


class _Count:
    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


@register("limit_data", "LimitDataToxic")
@dataclass
class LimitData(Toxic):
    """Forwards up to ``bytes`` bytes per connection and direction, then closes the connection."""

    bytes: int = 0

    def new_state(self) -> _Count:
        return _Count()  # kept across updates (spec §8)

    async def pipe(self, chunk: Chunk, emit: Emit, state: _Count, ctx: Pipe) -> None:
        room = self.bytes - state.sent
        data = chunk.data[: max(room, 0)]
        if data:
            state.sent += len(data)
            await emit(Chunk(data, chunk.ts))
        if state.sent >= self.bytes:
            ctx.close()
