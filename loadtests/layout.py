"""The process layout of a run: how many Locust processes, proxy workers and server workers, and
how many source addresses, so that every process's sockets fit its FD limit and every hop's
sockets fit the ephemeral ports.

:func:`plan_layout` is pure: it takes the agent count, the profile's settings (``None`` for one set
to ``auto``) and the :class:`Machine` (FD limit, ephemeral ports, cores), and returns a
:class:`Layout` that says what it chose and why, or raises :class:`LayoutError` naming the field,
the numbers (needed vs available) and the fix. :func:`Machine.detect` reads this box's facts; the
orchestrator raises its soft FD limit to the hard one (:func:`raise_fd_limit`), so the hard limit is
the one every component gets.

The model, per process:

- a Locust process holds 1 FD per agent it runs (its socket) plus :data:`FD_OVERHEAD`; with
  ``--processes N`` the agents are spread evenly over N workers;
- an embedded proxy worker holds 2 FDs per agent (its client and its upstream socket), a server
  worker 1; connections are spread by the kernel (``SO_REUSEPORT``'s hash), so a worker's share is
  counted with a margin of four standard deviations;
- each hop to one destination (agents → proxy listener, proxy → server, or agents → target) gets
  the ephemeral port range once per source address. The agents spread over
  ``load.source_addresses``; the proxy dials the target from one address, so the proxy → target hop
  holds at most one range of sockets however many workers it has.

``auto`` chooses the fewest processes whose FDs stay under :data:`HEADROOM` of the limit (Locust:
at least one per :data:`AGENTS_PER_LOCUST_CORE` agents, up to the cores, as it is the busiest), and
the fewest source addresses whose ports stay under :data:`HEADROOM` of the range. An explicit value
is kept and only refused when it cannot fit at all.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from loadtests.profile.fields import ProfileError
from loadtests.source_address import MAX_SOURCE_ADDRESSES

if TYPE_CHECKING:
    from loadtests.profile.model import Profile

__all__ = ["AGENTS_PER_LOCUST_CORE", "FD_OVERHEAD", "HEADROOM", "Component", "Layout", "LayoutError",
           "LayoutRequest", "Machine", "plan_layout", "raise_fd_limit", "request_for", "resolve_layout"]

#: FDs a process holds besides its agents' sockets (interpreter, logs, ledger, IPC, listeners).
FD_OVERHEAD = 256
#: ``auto`` keeps FDs and ports under this share of what is available.
HEADROOM = 0.8
#: ``load.processes: auto`` gives Locust one process per this many agents, up to the cores.
AGENTS_PER_LOCUST_CORE = 5_000
MAX_LOCUST_PROCESSES = 1024
MAX_PROXY_WORKERS = 256
MAX_SERVER_WORKERS = 64


class LayoutError(ProfileError):
    """The profile's process layout cannot fit this machine; the message names the field, the
    numbers (needed vs available) and the fix."""

    def __init__(self, message: str, *, path: str, fix: str, file: str = "<string>") -> None:
        self.fix = fix
        self.reason = message
        super().__init__(f"{message}; {fix}", file=file, path=path)

    def in_file(self, file: str) -> LayoutError:
        """The same error, naming the profile ``file``."""
        return LayoutError(self.reason, path=self.path, fix=self.fix, file=file)


@dataclass(frozen=True)
class Machine:
    """What bounds a layout on one box."""

    fd_limit: int  # RLIMIT_NOFILE every component gets (the hard limit: the orchestrator raises to it)
    ports: int  # ephemeral ports per (source address, destination): net.ipv4.ip_local_port_range
    cpus: int

    @classmethod
    def detect(cls) -> Machine:
        """This box: the hard RLIMIT_NOFILE (capped by fs.nr_open), the port range, the cores."""
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nr_open = _read_ints("/proc/sys/fs/nr_open", [1_048_576])[0]
        limit = nr_open if hard == resource.RLIM_INFINITY else min(hard, nr_open)
        lo, hi = _read_ints("/proc/sys/net/ipv4/ip_local_port_range", [32768, 60999])[:2]
        return cls(fd_limit=limit, ports=max(hi - lo + 1, 1), cpus=os.cpu_count() or 1)


def _read_ints(path: str, default: list[int]) -> list[int]:
    try:
        values = [int(x) for x in Path(path).read_text().split()]
    except (OSError, ValueError):
        return default
    return values if len(values) >= len(default) else default


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it); returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = Machine.detect().fd_limit
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


@dataclass(frozen=True)
class LayoutRequest:
    """What a profile asks for. ``None`` is ``auto``; a component that is not started on this box
    (an external target, a proxy reached by URL, Locust on remote workers) is marked absent."""

    agents: int
    processes: int | None = 1  # load.processes (-1: one per core)
    proxy: str = "embedded"  # proxy.kind
    proxy_workers: int | None = 1
    server: bool = True  # target.kind embedded
    server_workers: int | None = 1
    source_addresses: int | None = 1
    locust_here: bool = True  # False: --master, the agents run on workers elsewhere


@dataclass(frozen=True)
class Component:
    """One component's share of the layout: its processes and each one's FDs (needed vs limit)."""

    name: str  # locust | proxy | server
    processes: int
    fds_per_process: int
    fd_limit: int
    auto: bool

    def describe(self) -> str:
        return f"{self.name} {self.processes}{' (auto)' if self.auto else ''}"


@dataclass(frozen=True)
class Layout:
    """The chosen layout: components, source addresses, each hop's ports, and why."""

    agents: int
    components: tuple[Component, ...]
    source_addresses: int
    ports_per_destination: int  # the most sockets one (source address, destination) pair holds
    ports_available: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def fd_limit(self) -> int:
        return self.components[0].fd_limit if self.components else 0

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def summary(self) -> str:
        """One line: ``layout 10,000 agents: locust 2 (auto), proxy 2 (auto), server 1; ...``."""
        parts = [c.describe() for c in self.components]
        fds = ", ".join(f"{c.name} {c.fds_per_process:,}" for c in self.components)
        limit = self.fd_limit
        return (f"layout {self.agents:,} agents: {', '.join(parts) or 'no local processes'}, "
                f"source addresses {self.source_addresses}; FDs per process {fds or '-'} of {limit:,}; "
                f"ports per destination {self.ports_per_destination:,} of {self.ports_available:,}")

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {c.name: c.processes for c in self.components}
        out["source_addresses"] = self.source_addresses
        out["summary"] = self.summary()
        return out


def share(agents: int, processes: int, *, spread: bool) -> int:
    """The most agents one of ``processes`` holds: an even split, or with ``spread`` (the kernel's
    hash) the mean plus four standard deviations."""
    if processes <= 1:
        return agents
    mean = agents / processes
    if not spread:
        return math.ceil(mean)
    p = 1 / processes
    return min(agents, math.ceil(mean + 4 * math.sqrt(agents * p * (1 - p))))


def _fds(agents: int, processes: int, per_agent: int, spread: bool) -> int:
    return per_agent * share(agents, processes, spread=spread) + FD_OVERHEAD


def _fewest(agents: int, per_agent: int, spread: bool, budget: float, cap: int) -> int | None:
    for n in range(1, cap + 1):
        if _fds(agents, n, per_agent, spread) <= budget:
            return n
    return None


def plan_layout(req: LayoutRequest, machine: Machine) -> Layout:
    """The layout for ``req`` on ``machine``.

    Raises:
        LayoutError: some process's FDs or some hop's ports cannot fit; the message names the field,
            needed vs available, and the fix.
    """
    limit, budget = machine.fd_limit, machine.fd_limit * HEADROOM
    agents = req.agents
    comps: list[Component] = []
    reasons: list[str] = []

    if req.locust_here:
        auto = req.processes is None
        if auto:
            fd_need = _fewest(agents, 1, False, budget, MAX_LOCUST_PROCESSES) or MAX_LOCUST_PROCESSES
            cpu = min(machine.cpus, math.ceil(agents / AGENTS_PER_LOCUST_CORE))
            n = max(fd_need, cpu, 1)
            reasons.append(f"locust {n}: {share(agents, n, spread=False):,} agents per process "
                           f"(FDs under {HEADROOM:.0%} of {limit:,}; one process per "
                           f"{AGENTS_PER_LOCUST_CORE:,} agents up to {machine.cpus} cores)")
        else:
            assert req.processes is not None
            n = machine.cpus if req.processes == -1 else req.processes
        comps.append(_check("locust", "load.processes", n, agents, 1, False, limit, auto, MAX_LOCUST_PROCESSES,
                            "FD per agent socket"))

    if req.proxy in ("embedded", "real"):
        auto = req.proxy == "embedded" and req.proxy_workers is None
        if req.proxy == "real":
            n = 1
        elif auto:
            n = _fewest(agents, 2, True, budget, MAX_PROXY_WORKERS) or MAX_PROXY_WORKERS
            reasons.append(f"proxy {n}: 2 FDs per agent, under {HEADROOM:.0%} of {limit:,} per worker")
        else:
            assert req.proxy_workers is not None
            n = req.proxy_workers
        comps.append(_check("proxy", "proxy.workers", n, agents, 2, True, limit, auto, MAX_PROXY_WORKERS,
                            "FDs per agent", real=req.proxy == "real"))

    if req.server:
        auto = req.server_workers is None
        if auto:
            n = _fewest(agents, 1, True, budget, MAX_SERVER_WORKERS) or MAX_SERVER_WORKERS
            reasons.append(f"server {n}: 1 FD per agent, under {HEADROOM:.0%} of {limit:,} per worker")
        else:
            assert req.server_workers is not None
            n = req.server_workers
        comps.append(_check("server", "target.server.workers", n, agents, 1, True, limit, auto,
                            MAX_SERVER_WORKERS, "FD per agent"))

    ports = machine.ports
    if req.source_addresses is None:
        sources = next((n for n in range(1, MAX_SOURCE_ADDRESSES + 1) if math.ceil(agents / n) <= ports * HEADROOM),
                       MAX_SOURCE_ADDRESSES)
        reasons.append(f"source addresses {sources}: {math.ceil(agents / sources):,} agents per address, under "
                       f"{HEADROOM:.0%} of {ports:,} ports")
    else:
        sources = req.source_addresses
    per_source = math.ceil(agents / sources)
    if per_source > ports:
        fix = next((n for n in range(sources + 1, MAX_SOURCE_ADDRESSES + 1) if math.ceil(agents / n) <= ports), None)
        raise LayoutError(
            f"{agents:,} agents over {sources} source address(es) need {per_source:,} ports per destination, "
            f"above the {ports:,} ephemeral ports (net.ipv4.ip_local_port_range)",
            path="load.source_addresses",
            fix=f"set load.source_addresses >= {fix} (or auto)" if fix else "run fewer agents")
    hop = per_source
    if req.proxy in ("embedded", "real"):
        hop = max(hop, agents)  # the proxy dials the target from one address, whatever its workers
        if agents > ports:
            raise LayoutError(
                f"{agents:,} agents through the proxy need {agents:,} proxy -> target sockets from one source "
                f"address, above the {ports:,} ephemeral ports (net.ipv4.ip_local_port_range)",
                path="proxy.kind",
                fix=f"run at most {ports:,} agents through the proxy, set proxy.kind none, or widen "
                    "net.ipv4.ip_local_port_range")
    reasons.append(f"ports: {hop:,} sockets per destination of {ports:,}")
    return Layout(agents=agents, components=tuple(comps), source_addresses=sources, ports_per_destination=hop,
                  ports_available=ports, reasons=tuple(reasons))


def _check(name: str, path: str, n: int, agents: int, per_agent: int, spread: bool, limit: int, auto: bool,
           cap: int, unit: str, *, real: bool = False) -> Component:
    need = _fds(agents, n, per_agent, spread)
    if need > limit:
        fix = _fewest(agents, per_agent, spread, limit, cap)
        what = "one process" if n == 1 else f"each of {n} processes"
        if real:
            expected = f"set proxy.kind embedded with proxy.workers >= {fix} (or auto)" if fix else "run fewer agents"
        else:
            expected = f"set {path} >= {fix} (or auto)" if fix else "run fewer agents"
        if name == "locust":
            expected += ", or run --master with workers on other machines"
        raise LayoutError(
            f"{agents:,} agents need {need:,} FDs in {what} of the {name} ({per_agent} {unit} + "
            f"{FD_OVERHEAD} overhead), above the limit of {limit:,} (RLIMIT_NOFILE hard)",
            path=path, fix=expected)
    return Component(name=name, processes=n, fds_per_process=need, fd_limit=limit, auto=auto)


def request_for(profile: Profile, *, locust_here: bool = True) -> LayoutRequest:
    """The :class:`LayoutRequest` of ``profile`` (its ``auto`` settings as ``None``)."""
    auto = profile.auto
    server = profile.target.server
    return LayoutRequest(
        agents=profile.load.running,
        processes=None if "load.processes" in auto else profile.load.processes,
        proxy=profile.proxy.kind,
        proxy_workers=None if "proxy.workers" in auto else profile.proxy.workers,
        server=profile.target.kind == "embedded",
        server_workers=None if "target.server.workers" in auto or server is None else server.workers,
        source_addresses=None if "load.source_addresses" in auto else profile.load.source_addresses,
        locust_here=locust_here,
    )


def resolve_layout(profile: Profile, machine: Machine, *, locust_here: bool = True,
                   source: str | None = None) -> tuple[Profile, Layout]:
    """Plan ``profile``'s layout on ``machine`` and return the profile with its ``auto`` settings set
    to the chosen numbers (``auto`` then empty), and the layout.

    Raises:
        LayoutError: it cannot fit (naming ``source``, the profile file, when given).
    """
    try:
        layout = plan_layout(request_for(profile, locust_here=locust_here), machine)
    except LayoutError as exc:
        raise exc.in_file(source) if source else exc from None
    if not profile.auto:
        return profile, layout
    load, proxy, target = profile.load, profile.proxy, profile.target
    locust = layout.component("locust")
    if "load.processes" in profile.auto and locust is not None:
        load = replace(load, processes=locust.processes)
    if "load.source_addresses" in profile.auto:
        load = replace(load, source_addresses=layout.source_addresses)
    workers = layout.component("proxy")
    if "proxy.workers" in profile.auto and workers is not None and proxy.kind == "embedded":
        proxy = replace(proxy, workers=workers.processes)
    srv = layout.component("server")
    if "target.server.workers" in profile.auto and srv is not None and target.server is not None:
        target = replace(target, server=replace(target.server, workers=srv.processes))
    return replace(profile, load=load, proxy=proxy, target=target, auto=frozenset()), layout
