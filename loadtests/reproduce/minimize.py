"""``agentsoak reproduce --minimize``: the smallest replay that still fails the same way.

The steps (each candidate counts only if its signature reproduces ``k`` of ``n`` times, replays
stopping once that is decided; a candidate tested once is never run again):

1. **run length, early**: end the run just after the failure (the latest first-failure time of the
   replays that reproduced, plus ``MARGIN_S``, whole seconds as Locust counts them), dropping the
   fault entries that would start after it: every later replay is shorter;
2. **fault entries**: ddmin (:mod:`.ddmin`) over the timeline's entries;
3. **agents**: the signature's agent alone first, else ddmin over the others (it always stays);
4. **each remaining fault's parameters**, at most ``LADDER`` tries each, smallest first: an earlier
   ``at`` (0, then half), a shorter ``duration`` (just past the failure, then half), a lower
   ``share`` (half; toxics: just above the largest draw of the connections they hit, then half);
   not for a ``share`` that picks among aimed agents, where it changes nothing;
5. **run length** again.

The search itself (which candidate next) is in this module and :mod:`.ddmin`; running one is
:class:`.trials.Replayer`'s.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from faults.draws import ConnectionKey
from faults.identity import PROXY_NAME, agent_name, index_of
from faults.schedule import AIMED_KINDS, INSTANT_KINDS, toxic_name
from reports.ledger import iter_ledger
from reports.repro import LoadedBundle, Signature
from reports.repro.evidence import gather

from ..profile import Profile, ProfileError
from ..stop_signals import StopSignals
from .ddmin import ddmin
from .regression import regression_file_name, render_test
from .trials import Replayer, Trial, Verdict, to_profile

__all__ = ["LADDER", "MARGIN_S", "Candidate", "Minimizer", "Outcome", "minimize_cli", "run_length"]

#: seconds a shortened run goes on after the failure (the failing turn's end is recorded by then)
MARGIN_S = 0.5
#: tries per parameter in the shrink step
LADDER = 2
_STEP = 0.1  # times are rounded to this (seconds)
_SHARE_STEP = 0.01  # and shares to this


def run_length(failed_at_s: float) -> float:
    """The shortest run that still covers a failure at ``failed_at_s``: whole seconds (Locust's ``-t``)."""
    return float(max(1, math.ceil(failed_at_s + MARGIN_S)))


@dataclass(frozen=True)
class Candidate:
    """One configuration to try: fault entries (resolved form), agent indices (() = every agent), seconds."""

    faults: tuple[dict[str, Any], ...]
    agents: tuple[int, ...]
    duration: float

    def key(self) -> str:
        return json.dumps([self.faults, self.agents, self.duration], sort_keys=True)


@dataclass(frozen=True)
class Outcome:
    """Where a minimisation ended."""

    signature: Signature
    reproduced: bool  # the starting point did (else nothing was minimised)
    start: Candidate
    minimal: Candidate
    profile: dict[str, Any]  # the minimal profile, resolved form
    runs: int
    seconds: float
    broken: str | None = None


Say = Callable[[str], None]


class Minimizer:
    """The search over candidates of one bundle's replay profile ``base`` (resolved form)."""

    def __init__(self, base: dict[str, Any], signature: Signature, replayer: Replayer, *, n: int, k: int,
                 say: Say = lambda line: None) -> None:
        self.base = base
        self.signature = signature
        self.replayer = replayer
        self.n, self.k = n, k
        self.say = say
        self._tested: dict[str, Verdict] = {}
        self.last: Verdict | None = None  # the latest verdict that reproduced
        self.broken: str | None = None
        self._labels = 0

    # -- candidates -------------------------------------------------------------------------------
    def start(self) -> Candidate:
        load = self.base.get("load") or {}
        return Candidate(tuple(self.base.get("faults") or ()), tuple(load.get("agents") or ()),
                         float(load.get("duration", 60.0)))

    def profile_of(self, c: Candidate) -> dict[str, Any]:
        out = dict(self.base)
        name = str(self.base.get("name") or "repro").removesuffix("-repro")
        out["name"] = f"{name[:56]}-minimal"
        load = dict(self.base.get("load") or {})
        load["duration"] = c.duration
        if c.agents:
            load["agents"] = list(c.agents)
        out["load"] = load
        out["faults"] = [dict(f) for f in c.faults]
        return out

    def test(self, c: Candidate, what: str) -> bool:
        """Whether ``c`` reproduces the signature (k of n); False once a replay broke (see ``broken``)."""
        if self.broken is not None:
            return False
        key = c.key()
        if key in self._tested:
            return self._tested[key].reproduced
        self._labels += 1
        try:
            profile: Profile = to_profile(self.profile_of(c), f"candidate {self._labels} ({what})")
        except ProfileError as exc:  # a shrink that makes no valid profile counts as not reproducing
            self.say(f"  {what}: not a valid profile ({exc}); skipped")
            self._tested[key] = Verdict(self.n, self.k, ())
            return False
        verdict = self.replayer.verdict(profile, f"c{self._labels}", self.n, self.k)
        self._tested[key] = verdict
        if verdict.broken is not None:
            self.broken = verdict.broken
            return False
        if verdict.reproduced:
            self.last = verdict
        self.say(f"  {what}: {verdict.brief()} -> {'keep' if verdict.reproduced else 'no'}")
        return verdict.reproduced

    def _last_trial(self) -> Trial | None:
        if self.last is None:
            return None
        hits = [t for t in self.last.trials if t.judgement.reproduced]
        return hits[-1] if hits else None

    # -- the steps -------------------------------------------------------------------------------
    def run(self) -> Outcome:
        t0, runs0 = time.monotonic(), self.replayer.runs
        start = current = self.start()
        agents = "every agent" if not start.agents else \
            f"{len(start.agents)} agent{'s' if len(start.agents) != 1 else ''}"
        self.say(f"minimizing {self.signature}: {len(start.faults)} fault entries, {agents}, {start.duration:g} s; "
                 f"k={self.k} of n={self.n} per candidate")
        ok = self.test(start, "the bundle's replay")
        if ok:
            current = self._shorter_run(current, "run length (early)", drop_no_ops=True)
            current = self._fewer_faults(current)
            current = self._fewer_agents(current)
            current = self._smaller_parameters(current)
            current = self._shorter_run(current, "run length")
        return Outcome(self.signature, ok, start, current, self.profile_of(current),
                       self.replayer.runs - runs0, time.monotonic() - t0, self.broken)

    def _shorter_run(self, c: Candidate, what: str, *, drop_no_ops: bool = False) -> Candidate:
        """The run cut just after the failure, without the entries that start after it, and (with
        ``drop_no_ops``) without those that hit none of the replayed connections in the last replay."""
        at = self.last.failed_at_s if self.last is not None else None
        if at is None or self.broken:
            return c
        seconds = min(run_length(at), c.duration)
        faults = tuple(f for f in c.faults if float(f.get("at", 0)) < seconds)
        idle = self._no_ops(c) if drop_no_ops else set()
        tries = [(tuple(f for f in faults if f.get("name") not in idle), idle)] if idle else []
        tries.append((faults, set()))
        for kept, dropped in tries:
            shorter = Candidate(kept, c.agents, seconds)
            if shorter == c:
                return c
            also = f"; without {', '.join(sorted(dropped))}, which hit none of these agents" if dropped else ""
            if self.test(shorter, f"{what}: {seconds:g} s (failed at +{at:.2f} s){also}"):
                return shorter
        return c

    def _evidence(self, c: Candidate) -> tuple[list[str], Any] | None:
        """The agents of ``c`` and the evidence of the last replay that reproduced."""
        trial = self._last_trial()
        if trial is None:
            return None
        load = self.base.get("load") or {}
        agents = [agent_name(a) for a in (c.agents or range(1, int(load.get("users", 0) or 0) + 1))]
        return agents, gather(iter_ledger(trial.run_dir), agents)

    def _no_ops(self, c: Candidate) -> set[str]:
        """Entries every window of which hit none of the replayed agents' connections in the last
        replay that reproduced, by the server's reply or the proxy's draws: they had no effect there.
        Not the faults that act on everything (``down``, ``wipe_store``, unaimed ``stall``/``refuse``)
        nor ``timeout`` toxics (removing one closes every connection, hit or not)."""
        found = self._evidence(c)
        if found is None:
            return set()
        agents, evidence = found
        by_entry: dict[str, list[bool]] = {}
        for w in evidence.timeline(agents):
            entry = w.fault.rpartition("#")[0]
            known = w.hit_by.startswith(("the server's reply", "the embedded proxy's draws"))
            by_entry.setdefault(entry, []).append(known and not w.hit and w.type != "timeout")
        return {name for name, idle in by_entry.items() if idle and all(idle)}

    def _fewer_faults(self, c: Candidate) -> Candidate:
        if not c.faults or self.broken:
            return c
        names = [str(f.get("name")) for f in c.faults]
        by_name = dict(zip(names, c.faults, strict=True))

        def fails(subset: tuple[str, ...]) -> bool:
            shown = ", ".join(subset) or "none"
            return self.test(replace(c, faults=tuple(by_name[n] for n in subset)), f"faults [{shown}]")

        kept = ddmin(names, fails, allow_empty=True)
        return replace(c, faults=tuple(by_name[n] for n in kept))

    def _fewer_agents(self, c: Candidate) -> Candidate:
        if self.broken:
            return c
        agents = c.agents or tuple(range(1, int((self.base.get("load") or {}).get("users", 1)) + 1))
        keep = index_of(self.signature.agent) if self.signature.agent else None
        others = tuple(a for a in agents if a != keep)
        if not others:
            return c
        if keep is not None:
            alone = replace(c, agents=(keep,))
            if self.test(alone, f"agents [{keep}]"):
                return alone
        fixed = (keep,) if keep is not None else ()

        def fails(subset: tuple[int, ...]) -> bool:
            chosen = tuple(sorted({*fixed, *subset}))
            return bool(chosen) and self.test(replace(c, agents=chosen), f"agents {list(chosen)}")

        kept = ddmin(others, fails, allow_empty=keep is not None)
        return replace(c, agents=tuple(sorted({*fixed, *kept})))

    def _smaller_parameters(self, c: Candidate) -> Candidate:
        for i in range(len(c.faults)):
            for param in ("at", "duration", "share"):
                if self.broken:
                    return c
                c = self._shrink(c, i, param)
        return c

    def _shrink(self, c: Candidate, i: int, param: str) -> Candidate:
        entry = c.faults[i]
        key, values = self._ladder(c, entry, param)
        for value in values:
            smaller = replace(c, faults=(*c.faults[:i], {**entry, key: value}, *c.faults[i + 1:]))
            now = entry.get(key)
            if self.test(smaller, f"{entry.get('name')}.{key} {'-' if now is None else f'{now:g}'} -> {value:g}"):
                return smaller
        return c

    def _ladder(self, c: Candidate, entry: dict[str, Any], param: str) -> tuple[str, list[float]]:
        """(the key to set, at most ``LADDER`` smaller values of it, smallest first)."""
        kind = entry.get("kind")
        at = float(entry.get("at", 0.0))
        if param == "at":
            lowest = self._earliest(c, entry)
            return "at", sorted({v for v in (lowest, _round((lowest + at) / 2)) if v < at})[:LADDER]
        if param == "duration":
            if kind in INSTANT_KINDS:
                return "duration", []
            now = float(entry.get("duration") or 0.0) or max(c.duration - at, 0.0)  # 0: until the end
            failed = self.last.failed_at_s if self.last is not None else None
            values = [_round(now / 2)]
            if failed is not None and failed > at:
                values.append(_round(failed - at + _STEP, up=True))  # just past the failure
            return "duration", sorted({v for v in values if 0 < v < now})[:LADDER]
        if "share" not in entry or (kind in AIMED_KINDS and entry.get("agents") is not None):
            return "share", []  # a share among aimed agents picks them all the same
        key = "toxicity" if kind == "toxic" and entry.get("toxicity") is not None else "share"
        now = float(entry[key])
        needed = self._needed_toxicity(c, entry) if kind == "toxic" else None
        values = [_round(now / 2, step=_SHARE_STEP)] + ([needed] if needed is not None else [])
        return key, sorted({v for v in values if 0 < v < now})[:LADDER]

    def _earliest(self, c: Candidate, entry: dict[str, Any]) -> float:
        """0, or for a fault aimed at agents the moment they all had connected in the last replay
        (aimed earlier, it picks nobody)."""
        aimed = entry.get("agents")
        found = self._evidence(c) if entry.get("kind") in AIMED_KINDS and aimed else None
        if found is None:
            return 0.0
        _, evidence = found
        firsts = []
        for index in aimed:
            opened = [span[0] for span in evidence.connections.get(agent_name(index), {}).values() if span[0]]
            if opened:
                firsts.append(min(opened))
        rel = evidence.rel(max(firsts)) if firsts else None
        return _round(rel + _STEP, up=True) if rel is not None else 0.0

    def _needed_toxicity(self, c: Candidate, entry: dict[str, Any]) -> float | None:
        """Just above the largest draw of the replayed connections the toxic hit in the last replay
        that reproduced (the proxy's draws: ``faults.draws``), so a lower share keeps the same hits."""
        seed = self.base.get("seed")
        found = self._evidence(c)
        if found is None or not isinstance(seed, int) or (self.base.get("proxy") or {}).get("kind") != "embedded":
            return None
        agents, evidence = found
        stream = str(entry.get("stream", "downstream"))
        draws = [ConnectionKey(seed, PROXY_NAME, -1, client).draw(stream, toxic_name(w.fault))
                 for w in evidence.timeline(agents) if w.fault.rpartition("#")[0] == entry.get("name")
                 for client in w.hit]
        return _round(max(draws) + 0.005, up=True, step=_SHARE_STEP) if draws else None


def _round(x: float, *, up: bool = False, step: float = _STEP) -> float:
    steps = x / step
    return round((math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)) * step, 6)


# -- the command -----------------------------------------------------------------------------------

def _counts_row(label: str, faults: int, agents: int | str, seconds: float) -> str:
    return f"  {label:<9} {faults:>6} {agents!s:>7} {seconds:>8g}"


def minimize_cli(loaded: LoadedBundle, profile: Profile, out: Path, stops: StopSignals, *, n: int, k: int,
                 jobs: int) -> int:
    """Run the minimisation of ``loaded`` and print and write what it found; the exit code."""
    b = loaded.bundle

    def say(line: str) -> None:
        print(line, flush=True)

    replayer = Replayer(b.signature, out, stops, jobs=jobs)
    base = profile.to_dict()
    outcome = Minimizer(base, b.signature, replayer, n=n, k=k, say=say).run()
    if outcome.broken is not None:
        print(f"agentsoak: could not run a replay: {outcome.broken}", file=sys.stderr)
        return 2
    if not outcome.reproduced:
        print(f"not reproduced: the bundle's replay does not fail as {b.signature} (k={k} of n={n}); "
              f"nothing to minimise. Runs spent: {outcome.runs}", flush=True)
        return 1
    m = outcome.minimal
    text = yaml.safe_dump(outcome.profile, sort_keys=False)
    minimal_path = loaded.directory / "minimal.yaml"
    header = (f"# minimal profile for {b.signature} (agentsoak reproduce --minimize, {outcome.runs} runs): "
              f"from run {b.run_id}, seed {b.seed}\n")
    minimal_path.write_text(header + text)
    test_path = loaded.directory / regression_file_name(b.signature)
    origin = (f"From run {b.run_id} (profile {b.profile}, seed {b.seed}): {len(m.faults)} of {b.original.faults} "
              f"fault entries, {len(m.agents) or b.original.agents} of {b.original.agents} agents, "
              f"{m.duration:g} of {b.original.seconds:g} s.")
    test_path.write_text(render_test(b.signature, header + text, origin))
    lines = [
        "",
        f"signature: {b.signature}",
        f"  {'':<9} {'faults':>6} {'agents':>7} {'seconds':>8}",
        _counts_row("original", b.original.faults, b.original.agents, b.original.seconds),
        _counts_row("minimal", len(m.faults), len(m.agents) or b.original.agents, m.duration),
        f"runs spent: {outcome.runs} ({outcome.seconds:.1f} s)",
        f"minimal profile ({minimal_path}):",
        "",
        text.rstrip(),
        "",
        f"wrote {minimal_path}",
        f"wrote {test_path} (asserts the failure; AGENTSOAK_EXPECT_FIXED=1 or EXPECT_FAILURE = False asserts its absence)",
    ]
    print("\n".join(lines), flush=True)
    return 0
