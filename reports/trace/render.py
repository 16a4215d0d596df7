"""An ``AgentTrace`` as terminal lines (``render_text``) or as JSON (``render_json``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from reports.trace.model import (
    Abandon,
    AgentTrace,
    Connect,
    Disconnect,
    Item,
    Lifecycle,
    ProtocolFault,
    Recovery,
    Turn,
    short_turn,
)

__all__ = ["FAULTS_LISTED", "item_text", "render_json", "render_text", "trace_dict"]

#: fault windows the header lists one by one (the rest are counted)
FAULTS_LISTED = 12
_PAD = " " * 22  # the width of the time and kind columns, for continuation lines


def _n(k: Any, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _conn(conn: str | None) -> str:
    return conn.rsplit("/", 1)[-1] if conn else "-"


def _secs(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _attempt_line(a: Any) -> str:
    if a.ok:
        return f"attempt {a.attempt} at {a.at:+.2f} s ({_conn(a.conn)}): connected, handshake {_secs(a.handshake_ms)}"
    if a.ok is None:
        return f"attempt {a.attempt} at {a.at:+.2f} s ({_conn(a.conn)}): no outcome in the ledger"
    why = f"HTTP {a.status}: " if a.status is not None else ""
    retry = f"; retry in {a.retry_in_s:.2f} s" if a.retry_in_s is not None else "; no retry"
    return f"attempt {a.attempt} at {a.at:+.2f} s ({_conn(a.conn)}): failed: {why}{(a.error or '')[:80]}{retry}"


def _connect(c: Connect) -> list[str]:
    n = len(c.attempts)
    if c.outcome == "connected":
        last = c.attempts[-1] if c.attempts else None
        after = f" after {_secs(c.took_ms)}" if n > 1 else ""
        hs = f", handshake {_secs(last.handshake_ms)}" if last is not None else ""
        head = f"{c.reason}: connected on attempt {last.attempt if last else '?'}{after} ({_conn(c.conn)}{hs})"
    elif c.outcome == "gave_up":
        head = f"{c.reason}: GAVE UP after {_n(n, 'attempt')} in {_secs(c.took_ms)} (the agent cools down and retries)"
    else:
        head = f"{c.reason}: still trying when the ledger ends ({_n(n, 'attempt')})"
    rest = [] if n == 1 and c.outcome == "connected" else [_attempt_line(a) for a in c.attempts]
    return [head, *rest]


def _turn(agent: str, t: Turn) -> str:
    head = f"{short_turn(agent, t.turn)} attempt {t.attempt}: "
    full = ", full input" if t.input_mode == "full" else ""
    if t.outcome in ("completed", "incomplete"):
        text = (f"{t.outcome}, TTFT {_secs(t.ttft_ms)}, {_secs(t.duration_ms)}, cache {t.cache or 'n/a'}{full}"
                + (", DIGEST MISMATCH (the server answered from another context)" if t.digest_mismatch else ""))
    elif t.outcome is None:
        text = f"never ended (in flight when the ledger ends){full}"
    elif t.outcome == "cut":
        text = f"CUT in flight after {_secs(t.duration_ms)}{full}"
    elif t.outcome == "stopped":
        text = "stopped (the agent stopped)"
    else:
        text = f"{t.outcome.upper()} {t.error_code or ''}".rstrip() + f" after {_secs(t.duration_ms)}{full}"
    return head + text


_ENDED = {
    "reconnected": "reconnected in {ms} ({n})",
    "gave_up": "NEVER RECONNECTED: gave up",
    "agent_stopped": "the agent stopped",
    "run_ended": "NEVER RECONNECTED (nothing followed before the ledger ends)",
}


def _disconnect(agent: str, d: Disconnect) -> str:
    code = "-" if d.code is None else str(d.code)
    cut = f", cut {short_turn(agent, d.in_flight)} in flight" if d.in_flight else ""
    text = f"code {code}, closed by {d.closed_by}, detected by {d.detected}{cut}, {d.silent_ms:.0f} ms silent"
    if d.ended is not None:
        text += " -> " + _ENDED.get(d.ended, d.ended).format(ms=_secs(d.reconnect_ms), n=_n(d.reconnect_attempts, 'attempt'))
    if d.fault and d.fault not in d.faults:
        text += f" (attributed to {d.fault})"
    return text


def item_text(agent: str, item: Item) -> list[str]:
    """What happened, in words: the first line, then continuation lines (a connect's attempts)."""
    if isinstance(item, Connect):
        return _connect(item)
    if isinstance(item, Turn):
        return [_turn(agent, item)]
    if isinstance(item, Disconnect):
        return [_disconnect(agent, item)]
    if isinstance(item, Recovery):
        return [f"{item.mode} for {short_turn(agent, item.turn)} (reconnect took {_secs(item.reconnect_ms)}, "
                f"{_n(item.attempts, 'attempt')})"]
    if isinstance(item, Abandon):
        code = f" ({item.error_code})" if item.error_code else ""
        return [f"{short_turn(agent, item.turn)} GIVEN UP after {_n(item.attempts, 'attempt')}: {item.cause}{code}"]
    if isinstance(item, ProtocolFault):
        return [f"{_conn(item.conn)}: {item.error[:100]}"]
    assert isinstance(item, Lifecycle)
    if item.what == "start":
        return ["started" + (f" (index {item.index})" if item.index is not None else "")]
    return ["stopped"]


def _window(trace: AgentTrace, since: float | None, until: float | None) -> tuple[Item, ...]:
    lo = -float("inf") if since is None else since
    hi = float("inf") if until is None else until
    return tuple(i for i in trace.items if lo <= i.at <= hi)


def _fault_list(trace: AgentTrace) -> list[str]:
    hit = set(trace.faults_hit)
    shown = [f for f in trace.faults if f.fault in hit][:FAULTS_LISTED]
    lines = []
    for f in shown:
        share = f", share {f.share:.0%}" if f.share is not None else ""
        span = f"{f.start:+.2f} s (instant)" if f.end - f.start < 0.01 else f"{f.start:+.2f} … {f.end:+.2f} s"
        lines.append(f"  {f.fault} ({f.type}{share}): {span}")
    others = len(trace.faults) - len(shown)
    if others:
        lines.append(f"  (+{others} other fault window(s) of the run overlapped none of its events)")
    return lines


def _counts(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"


def _totals(trace: AgentTrace) -> str:
    t = trace.totals()
    return (f"totals: {_n(t['turns'], 'turn')} in {_n(t['turn_attempts'], 'attempt')} ({_counts(t['outcomes'])}); "
            f"cache {_counts(t['cache'])}; {_n(t['connects'], 'connect')} ({_n(t['reconnects'], 'reconnect')}, "
            f"{_n(t['failed_attempts'], 'failed attempt')}, {t['gave_up']} gave up); "
            f"disconnects by code {_counts(t['disconnects'])}; recoveries {_counts(t['recoveries'])}; "
            f"{_n(t['abandoned'], 'turn')} given up")


def render_text(trace: AgentTrace, *, since: float | None = None, until: float | None = None) -> str:
    """The timeline, one line per item (a connect's attempts indented below it), with its faults."""
    idx = f" (index {trace.index})" if trace.index is not None else ""
    lines = [f"agentsoak trace: {trace.agent}{idx} in {trace.profile or '?'} (run {trace.run_id or '?'}, "
             f"seed {trace.seed}), test {trace.duration_s:.0f} s; times are seconds since the test start"]
    if trace.partial:
        lines.append("!!! PARTIAL RUN: " + "; ".join(trace.partial) + " !!!")
    lines.append("named in failed checks: " + (", ".join(trace.failed_checks) or "none"))
    if trace.faults_hit:
        lines += ["fault windows that overlapped its events:", *_fault_list(trace)]
    else:
        lines.append(f"fault windows that overlapped its events: none (of {len(trace.faults)} in the run)")
    items = _window(trace, since, until)
    if since is not None or until is not None:
        lines.append(f"showing {len(items)} of {len(trace.items)} events, from "
                     f"{'start' if since is None else f'{since:+.2f} s'} to {'end' if until is None else f'{until:+.2f} s'}")
    lines.append("")
    for item in items:
        first, *more = item_text(trace.agent, item)
        faults = f"  [fault: {', '.join(item.faults)}]" if item.faults else ""
        lines.append(f"{item.at:>+9.2f} s  {item.kind:<10} {first}{faults}")
        lines += [f"{_PAD}  {m}" for m in more]
    if not items:
        lines.append("(no events of this agent)")
    lines += ["", _totals(dataclasses.replace(trace, items=items))]
    return "\n".join(lines) + "\n"


def _item_dict(item: Item) -> dict[str, Any]:
    return {"kind": item.kind, **dataclasses.asdict(item)}


def trace_dict(trace: AgentTrace, *, since: float | None = None, until: float | None = None) -> dict[str, Any]:
    """The trace as plain data (``--json``): run facts, fault windows (with ``hit``), items, totals."""
    items = _window(trace, since, until)
    hit = set(trace.faults_hit)
    return {
        "agent": trace.agent,
        "index": trace.index,
        "run_id": trace.run_id,
        "profile": trace.profile,
        "seed": trace.seed,
        "duration_s": trace.duration_s,
        "partial": list(trace.partial),
        "failed_checks": list(trace.failed_checks),
        "faults": [{"fault": f.fault, "type": f.type, "share": f.share, "start": f.start, "end": f.end,
                    "standing": f.standing, "hit": f.fault in hit} for f in trace.faults],
        "items": [_item_dict(i) for i in items],
        "totals": dataclasses.replace(trace, items=items).totals(),
    }


def render_json(trace: AgentTrace, *, since: float | None = None, until: float | None = None) -> bytes:
    return orjson.dumps(trace_dict(trace, since=since, until=until), option=orjson.OPT_INDENT_2) + b"\n"
