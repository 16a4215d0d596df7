"""Benchmark: ledger events as msgspec Structs vs frozen slotted dataclasses + orjson, per event.

Run: ``.venv/bin/python benchmarks/bench_ledger.py [--n N]``. Both options carry the same kinds and
fields (the dataclasses are made from ``reports.ledger.schema``) and write the same JSON line.
- encode: build the event (stamping ``t``/``mono``/``pid``) and serialize it to one JSONL line;
- decode: one line back into a typed, validated event (the reader's job: kind dispatch, every
  field's type checked, enums converted).
It prints ns per event for a ``turn_end`` (the per-turn hot path) and for a mix of every kind, and
the dataclass/msgspec ratio (above 1: msgspec is faster).

Then the storage costs, plain ``.jsonl`` vs compressed ``.jsonl.zst``, for a ``turn_end`` with a
real run's noise (full-precision floats, random digests): encoding with and without the
microsecond rounding, ``LedgerWriter.write`` per event (a flush every 200 events, compression
included), and reading back (``iter_lines`` + ``decode_line``) per event.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import itertools
import os
import random
import sys
import tempfile
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.ledger import LedgerWriter, decode_line, encode, iter_lines  # noqa: E402
from reports.ledger import schema as ev  # noqa: E402

_PID = os.getpid()


def _dataclass_of(cls: type[ev.Event]) -> type:
    """A frozen, slotted, keyword-only dataclass with the same fields (``kind`` first, as a field)."""
    fields: list[tuple[str, Any, Any]] = [("kind", str, dataclasses.field(default=cls.__struct_config__.tag))]
    for f in msgspec.structs.fields(cls):
        if f.name in ("t", "mono"):
            fields.append((f.name, float, dataclasses.field(default_factory=getattr(time, "time" if f.name == "t"
                                                                                      else "monotonic"))))
        elif f.name == "pid":
            fields.append((f.name, int, dataclasses.field(default_factory=lambda: _PID)))
        elif f.required:
            fields.append((f.name, f.type, dataclasses.field()))
        else:
            fields.append((f.name, f.type, dataclasses.field(default=f.default)))
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True, kw_only=True)


def _checker(t: Any) -> Callable[[Any], Any]:
    """A function that returns the value typed as ``t`` or raises TypeError (what a reader must do)."""
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return t
    if (isinstance(t, type) and issubclass(t, msgspec.Struct)) or typing.get_origin(t) is list:
        return lambda v: msgspec.convert(v, t)  # values nested in run_start (rare): msgspec validates them
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        inner = [_checker(a) for a in typing.get_args(t) if a is not type(None)]

        def union(v: Any) -> Any:
            if v is None:
                return None
            for c in inner:
                try:
                    return c(v)
                except (TypeError, ValueError):
                    pass
            raise TypeError(v)
        return union
    if t is float:
        def num(v: Any) -> float:
            if type(v) is float or type(v) is int:
                return v
            raise TypeError(v)
        return num
    py = typing.get_origin(t) or t

    def exact(v: Any) -> Any:
        if type(v) is py:
            return v
        raise TypeError(v)
    return exact


def _nested(value: Any) -> Any:
    """Values nested in events (``Backoff``, ``PlannedFault``) stay msgspec Structs in the dataclass option."""
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.asdict(value)
    raise TypeError(type(value).__name__)


class DataclassCodec:
    """The dataclasses + orjson option: orjson serializes dataclasses natively; decode validates in Python."""

    def __init__(self) -> None:
        self.classes = {cls: _dataclass_of(cls) for cls in ev.EVENT_TYPES}
        self.by_kind = {cls.__struct_config__.tag: dc for cls, dc in self.classes.items()}
        self.checks = {dc: [(f.name, _checker(f.type)) for f in dataclasses.fields(dc) if f.name != "kind"]
                       for dc in self.classes.values()}

    def encode(self, event: Any) -> bytes:
        return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE, default=_nested)

    def decode(self, line: bytes) -> Any:
        obj = orjson.loads(line)
        dc = self.by_kind[obj["kind"]]
        return dc(**{name: check(obj[name]) for name, check in self.checks[dc] if name in obj})


def _samples() -> list[ev.Event]:
    from tests.reports.test_ledger import sample  # the round-trip test's one-of-every-kind events
    return [sample(cls) for cls in ev.EVENT_TYPES]


def _per_event_ns(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1e9)
    return best


def _measure(label: str, events: list[ev.Event], dc: DataclassCodec, n: int) -> tuple[str, float, float, float, float]:
    stamps = ("t", "mono", "pid", "v")
    fields = [(type(e), {f: getattr(e, f) for f in e.__struct_fields__ if f not in stamps}) for e in events]
    dfields = [(dc.classes[cls], kw) for cls, kw in fields]
    lines = [encode(e) for e in events]
    assert all(orjson.loads(dc.encode(c(**kw))).keys() == orjson.loads(line).keys()
               for (c, kw), line in zip(dfields, lines, strict=True)), "both options write the same keys"
    assert all(decode_line(line) is not None and dc.decode(line) is not None for line in lines)
    k = len(events)
    pos = [0]

    def nxt(seq: list[Any]) -> Any:
        pos[0] = (pos[0] + 1) % k
        return seq[pos[0]]

    def build(ck: tuple[Any, dict[str, Any]]) -> Any:
        return ck[0](**ck[1])

    return (label,
            _per_event_ns(lambda: encode(build(nxt(fields))), n),
            _per_event_ns(lambda: dc.encode(build(nxt(dfields))), n),
            _per_event_ns(lambda: decode_line(nxt(lines)), n),
            _per_event_ns(lambda: dc.decode(nxt(lines)), n))


def _noisy_turn_ends(n: int) -> list[ev.TurnEnd]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        digest = f"{rng.getrandbits(128):032x}"
        out.append(ev.TurnEnd(agent=f"a101-{i % 500}", conn=f"a101-{i % 500}/c1", turn=f"a101-{i % 500}/s1/t{i}",
                              session=1, index=i, attempt=1, outcome=ev.Outcome.COMPLETED,
                              response_id=f"resp_{rng.getrandbits(64):016x}", error_code=None,
                              ttft_ms=rng.uniform(10, 90), duration_ms=rng.uniform(50, 900), output_tokens=40,
                              input_tokens=300, cached_tokens=200, gap_p50_ms=rng.uniform(1, 5),
                              gap_p99_ms=rng.uniform(5, 30), tokens_per_s=rng.uniform(60, 120), client_digest=digest,
                              server_digest=digest, cache=ev.CacheOutcome.HIT))
    return out


def _storage(n: int) -> None:
    events = _noisy_turn_ends(n)
    raw = msgspec.json.Encoder()
    cycle = itertools.cycle(events).__next__
    enc_raw = _per_event_ns(lambda: raw.encode(cycle()) + b"\n", n)
    enc_us = _per_event_ns(lambda: encode(cycle()), n)
    print(f"\nturn_end encode: {enc_raw:.0f} ns as built, {enc_us:.0f} ns with times to the microsecond "
          f"({len(encode(events[0]))} vs {len(raw.encode(events[0])) + 1} bytes)")
    print(f"{'format':<8} {'write ns/event':>15} {'read+decode ns/event':>21} {'bytes/event':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, suffix in (("plain", ".jsonl"), ("zstd", ".jsonl.zst")):
            best_w, best_r = float("inf"), float("inf")
            for k in range(3):
                path = Path(tmp, f"l{k}{suffix}")
                start = time.perf_counter()
                with LedgerWriter(path, flush_interval=3600) as w:
                    for i, e in enumerate(events):
                        w(e)
                        if i % 200 == 199:
                            w.flush()
                best_w = min(best_w, (time.perf_counter() - start) / n * 1e9)
                start = time.perf_counter()
                count = sum(1 for line in iter_lines(path) if decode_line(line) is not None)
                best_r = min(best_r, (time.perf_counter() - start) / n * 1e9)
                assert count == n
            print(f"{name:<8} {best_w:>15.0f} {best_r:>21.0f} {path.stat().st_size / n:>12.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="events per timed loop (best of 3)")
    args = parser.parse_args()
    dc = DataclassCodec()
    rows = [_measure(label, events, dc, args.n) for label, events in (
        ("turn_end", [s for s in _samples() if isinstance(s, ev.TurnEnd)]), ("all kinds", _samples()))]
    print(f"{'events':<10} {'encode msgspec':>15} {'encode dataclass':>17} {'ratio':>6} "
          f"{'decode msgspec':>15} {'decode dataclass':>17} {'ratio':>6}   (ns per event, best of 3)")
    for label, m_enc, d_enc, m_dec, d_dec in rows:
        print(f"{label:<10} {m_enc:>15.0f} {d_enc:>17.0f} {d_enc / m_enc:>5.1f}x "
              f"{m_dec:>15.0f} {d_dec:>17.0f} {d_dec / m_dec:>5.1f}x")
    _storage(args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
