"""The ``faults:`` section of a profile: raw entries -> ``faults.schedule.FaultSpec``.

Toxic entries are Toxiproxy toxic objects (type, stream, toxicity, attributes) and are checked with
the rules our embedded proxy applies (toxiproxy-api.md §6, §9): integer attributes, none negative,
``bandwidth.rate > 0``, ``slicer`` with ``0 <= size_variation < average_size``.
"""

from __future__ import annotations

from typing import Any

from faults.schedule import (
    AIMED_KINDS,
    FAULT_KINDS,
    INSTANT_KINDS,
    PROTOCOL_KINDS,
    FaultSpec,
    plan,
    window_count,
)
from faults.server_admin import CLOSE_CODES, REFUSE_STATUSES, STALL_WHERE
from loadtests.agent_index import agent_name, index_of
from loadtests.profile.caps import MAX_FAULT_WINDOWS
from loadtests.profile.fields import (
    At,
    Section,
    agent_indices,
    choice,
    duration,
    integer,
    number,
    optional,
    sequence_of,
    text,
)

__all__ = ["TOXIC_ATTRIBUTES", "fault_to_dict", "read_fault_entry", "read_faults"]

#: Attribute names (all JSON integers) per toxic type, with their units.
TOXIC_ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "ms", "jitter": "ms"},
    "bandwidth": {"rate": "KB/s"},
    "slow_close": {"delay": "ms"},
    "timeout": {"timeout": "ms"},
    "reset_peer": {"timeout": "ms"},
    "slicer": {"average_size": "bytes", "size_variation": "bytes", "delay": "µs"},
    "limit_data": {"bytes": "bytes"},
    "noop": {},
}
_INT64_MAX = 2**63 - 1
MAX_WINDOWS = MAX_FAULT_WINDOWS  # one source: caps.py checks the whole timeline first

_COMMON = ("name", "kind", "at", "duration", "every")
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "toxic": ("share", "type", "stream", "toxicity", "attributes"),
    "down": (),
    "close": ("share", "code", "agents"),
    "limit": ("share", "agents"),
    "evict": ("share", "agents"),
    "wipe_store": (),
    "stall": ("share", "where", "ms", "stall"),
    "refuse": ("share", "status", "retry_after"),
    "wrong_state": ("share", "turns", "agents"),
    "leak": ("bytes",),
}
_EXCLUSIVE = ("down", "stall", "refuse", "wrong_state")  # one standing mode at a time: a removal would end both
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def read_faults(
    value: Any, at: At, *, duration_s: float, proxy_kind: str, target_kind: str
) -> tuple[FaultSpec, ...]:
    """Validate the ``faults`` list against the rest of the profile."""
    items = sequence_of(value, at)
    specs: list[FaultSpec] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        item_at = at.child(i, items)
        spec = _read_fault(raw, item_at, i, proxy_kind=proxy_kind, target_kind=target_kind)
        if spec.name in seen:
            raise item_at.child("name", raw).error(
                f"duplicate fault name {spec.name!r} (also faults[{seen[spec.name]}])",
                expected="unique names",
            )
        seen[spec.name] = i
        if window_count(spec, duration_s) > MAX_WINDOWS:
            raise item_at.child("every", raw).error(
                f"repeats more than {MAX_WINDOWS} times in the test", expected="a longer 'every'"
            )
        specs.append(spec)
    _check_overlaps(specs, items, at, duration_s)
    return tuple(specs)


def read_fault_entry(raw: Any, *, proxy_kind: str, target_kind: str, source: str = "<form>") -> FaultSpec:
    """One fault entry given outside a profile (the web UI's Faults tab), checked by the same rules
    as a ``faults:`` item; ``at`` defaults to 0 (now). Raises ``ProfileError`` naming ``source`` and the key."""
    from loadtests.profile.fields import Origin

    if isinstance(raw, dict) and "at" not in raw:
        raw = {**raw, "at": 0}
    return _read_fault(raw, At(Origin(source, {})), 0, proxy_kind=proxy_kind, target_kind=target_kind)


def _read_fault(raw: Any, at: At, index: int, *, proxy_kind: str, target_kind: str) -> FaultSpec:
    all_keys = sorted({*_COMMON, *(k for keys in _KIND_KEYS.values() for k in keys)})
    pre = Section(raw, at, all_keys, what="a fault entry (a mapping)")
    if pre.has("kind"):
        kind = pre.get("kind", choice(FAULT_KINDS), "toxic")
    elif pre.has("type"):
        kind = "toxic"  # a bare Toxiproxy toxic object
    else:
        raise at.error("missing required key 'kind'", expected=f"one of {', '.join(FAULT_KINDS)}")
    sec = Section(raw, at, (*_COMMON, *_KIND_KEYS[kind]), what="a fault entry (a mapping)")
    kind_at = sec.at_key("kind") if sec.has("kind") else at

    if proxy_kind == "none" and kind in ("toxic", "down"):
        raise kind_at.error(f"kind {kind} needs a proxy, but proxy.kind is none", expected="a protocol fault")
    if target_kind != "embedded" and kind in PROTOCOL_KINDS:
        raise kind_at.error(
            f"kind {kind} is played by the reference server's admin API; target.kind is {target_kind}",
            expected="target.kind embedded, or a toxic/down fault",
        )

    name = sec.get(
        "name", text(_NAME, "a name of letters, digits, '.', '_', '-' (at most 64)"), f"{kind}-{index}"
    )
    at_s = sec.require("at", duration(), "the start time, e.g. at: 15s")
    dur = sec.get("duration", duration(), 0.0)
    if kind in INSTANT_KINDS and dur > 0:
        raise sec.at_key("duration").error(f"kind {kind} is instantaneous", expected="no duration (or 0)")
    every = sec.get("every", optional(duration(positive=True)), None)
    if every is not None:
        if every < 1.0:
            raise sec.at_key("every").error(f"{every:g}s is too short", expected="a period of at least 1s")
        if kind not in INSTANT_KINDS and not 0 < dur < every:
            raise sec.at_key("every").error(
                "a repeating fault must end before it repeats",
                expected=f"a duration > 0 and shorter than every ({every:g}s)",
            )
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "at_s": at_s,
        "duration_s": dur,
        "every_s": every,
        "share": sec.get("share", number(0.0, 1.0), 1.0),
    }
    if kind == "toxic":
        fields.update(_read_toxic(sec))
    elif kind == "close":
        fields["code"] = sec.require("code", choice(sorted(CLOSE_CODES)), f"one of {sorted(CLOSE_CODES)}")
    elif kind == "stall":
        fields.update(_read_stall(sec))
    elif kind == "refuse":
        status = sec.require("status", choice(sorted(REFUSE_STATUSES)), f"one of {sorted(REFUSE_STATUSES)}")
        retry_after = sec.get("retry_after", optional(duration()), 5.0 if status == 429 else None)
        if retry_after is not None and status != 429:
            raise sec.at_key("retry_after").error("only a 429 carries Retry-After", expected="no retry_after")
        fields.update(status=status, retry_after_s=retry_after)
    elif kind == "wrong_state":
        fields["turns"] = sec.get("turns", optional(integer(1, 1_000_000_000)), None)
    elif kind == "leak":
        fields["bytes"] = sec.get("bytes", integer(0, 64 * 2**20), 65536)
    if kind in AIMED_KINDS:
        indices = sec.get("agents", optional(agent_indices(empty=True)), None)  # []: nobody
        fields["agents"] = None if indices is None else tuple(agent_name(i) for i in indices)
    return FaultSpec(**fields)


def _read_toxic(sec: Section) -> dict[str, Any]:
    toxic_type = sec.require(
        "type", choice(sorted(TOXIC_ATTRIBUTES)), f"one of {', '.join(sorted(TOXIC_ATTRIBUTES))}"
    )
    stream = sec.get("stream", choice(("downstream", "upstream")), "downstream")
    toxicity = sec.get("toxicity", optional(number(0.0, 1.0)), None)
    names = TOXIC_ATTRIBUTES[toxic_type]
    attrs_sec = Section(sec.value.get("attributes"), sec.at_key("attributes"), tuple(names))
    attrs = {key: attrs_sec.get(key, integer(0, _INT64_MAX), 0) for key in names if attrs_sec.has(key)}
    if toxic_type == "bandwidth" and attrs.get("rate", 0) <= 0:
        where = attrs_sec.at_key("rate") if attrs_sec.has("rate") else attrs_sec.at
        raise where.error("bandwidth: rate must be > 0 (0 stalls the stream)", expected="rate in KB/s > 0")
    if toxic_type == "slicer":
        average = attrs.get("average_size", 0)
        if average <= 0:
            where = attrs_sec.at_key("average_size") if attrs_sec.has("average_size") else attrs_sec.at
            raise where.error("slicer: average_size must be > 0", expected="average_size in bytes > 0")
        if attrs.get("size_variation", 0) >= average:
            raise attrs_sec.at_key("size_variation").error(
                "slicer: size_variation must be >= 0 and < average_size", expected=f"an integer < {average}"
            )
    return {"type": toxic_type, "stream": stream, "toxicity": toxicity, "attributes": attrs}


def _read_stall(sec: Section) -> dict[str, Any]:
    where = sec.require("where", choice(sorted(STALL_WHERE)), f"one of {', '.join(sorted(STALL_WHERE))}")
    if sec.has("ms") and sec.has("stall"):
        raise sec.at_key("stall").error("give either ms or stall, not both", expected="one of ms, stall")
    if sec.has("ms"):
        ms = sec.get("ms", integer(1, 86_400_000), 0)
    elif sec.has("stall"):
        ms = round(sec.get("stall", duration(positive=True), 0.0) * 1000)
    else:
        raise sec.at.error("missing the stall length", expected="ms: 3000 or stall: 3s")
    return {"where": where, "ms": max(ms, 1)}


def _check_overlaps(specs: list[FaultSpec], items: list, at: At, duration_s: float) -> None:
    index = {spec.name: i for i, spec in enumerate(specs)}
    for kind in _EXCLUSIVE:
        windows = plan([s for s in specs if s.kind == kind], duration_s)
        for prev, cur in zip(windows, windows[1:], strict=False):
            prev_end = duration_s if prev.end_s is None else prev.end_s
            if cur.start_s < prev_end:
                i = index[cur.spec.name]
                raise at.child(i, items).error(
                    f"overlaps {prev.fault} (faults[{index[prev.spec.name]}]) at {cur.start_s:g}s; "
                    f"only one {kind} fault can be in effect at a time",
                    expected="non-overlapping windows",
                )


def fault_to_dict(spec: FaultSpec) -> dict[str, Any]:
    """The resolved form of one entry, readable back by ``read_faults``."""
    out: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "at": spec.at_s}
    if spec.duration_s:
        out["duration"] = spec.duration_s
    if spec.every_s is not None:
        out["every"] = spec.every_s
    if "share" in _KIND_KEYS[spec.kind]:
        out["share"] = spec.share
    if spec.kind == "toxic":
        out.update(
            type=spec.type, stream=spec.stream, toxicity=spec.toxicity, attributes=dict(spec.attributes)
        )
    elif spec.kind == "close":
        out["code"] = spec.code
    elif spec.kind == "stall":
        out.update(where=spec.where, ms=spec.ms)
    elif spec.kind == "refuse":
        out["status"] = spec.status
        if spec.retry_after_s is not None:
            out["retry_after"] = spec.retry_after_s
    elif spec.kind == "wrong_state" and spec.turns is not None:
        out["turns"] = spec.turns
    elif spec.kind == "leak":
        out["bytes"] = spec.bytes
    if spec.agents is not None:
        out["agents"] = [index_of(a) for a in spec.agents]
    return out
