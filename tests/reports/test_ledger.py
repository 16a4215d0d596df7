"""The ledger contract: every kind round-trips writer -> file -> reader, the docs are the schema's."""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path

import msgspec
import orjson
import pytest

from reports.ledger import LedgerReadStats, LedgerWriter, decode_line, encode, iter_ledger
from reports.ledger import docs as ledger_docs
from reports.ledger import schema as ev
from reports.quantile import nearest_rank
from reports.summary import summarize

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
BASE = {f.name for f in msgspec.structs.fields(ev.Event)}


def _sample(t: typing.Any, name: str, i: int) -> typing.Any:
    """A value of type ``t`` that is not the field's default (null only where nothing else fits)."""
    if isinstance(t, type) and issubclass(t, enum.Enum):
        members = list(t)
        return members[i % len(members)]
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return _sample(next(a for a in typing.get_args(t) if a is not type(None)), name, i)
    if typing.get_origin(t) is dict:
        return {"k": i}
    if typing.get_origin(t) is list:
        return [_sample(typing.get_args(t)[0], name, i)]
    if isinstance(t, type) and issubclass(t, msgspec.Struct):  # a nested value: every field set too
        return t(**{f.name: _sample(f.type, f.name, i) for f in msgspec.structs.fields(t)})
    return {str: f"{name}-{i}", int: 7 + i, float: 1.5 + i, bool: i % 2 == 0}[t]


def sample(cls: type[ev.Event], i: int = 0) -> ev.Event:
    """An event of ``cls`` with every field set to a non-default value."""
    fields = {f.name: _sample(f.type, f.name, i) for f in msgspec.structs.fields(cls) if f.name not in BASE}
    return cls(t=1_767_225_600.0 + i, mono=1000.0 + i, **fields)


def test_every_kind_round_trips_through_a_file_with_every_field(tmp_path):
    written = [sample(cls, i) for i, cls in enumerate(ev.EVENT_TYPES)]
    with LedgerWriter(tmp_path / "ledger" / "locust-1.jsonl") as w:
        for e in written:
            w.write(e)
    stats = LedgerReadStats()
    read = list(iter_ledger(tmp_path, stats))
    assert read == written and [type(e) for e in read] == list(ev.EVENT_TYPES)
    assert (stats.lines, stats.bad_lines, stats.cut_files) == (len(written), 0, [])
    for line, e in zip((tmp_path / "ledger" / "locust-1.jsonl").read_bytes().splitlines(), written, strict=True):
        keys = set(orjson.loads(line))  # the wire keys are exactly the schema's fields plus kind
        assert keys == {f.encode_name for f in msgspec.structs.fields(type(e))} | {"kind"}


def test_a_dropped_required_field_fails_on_both_sides():
    with pytest.raises(TypeError):
        ev.TurnEnd(agent="a", conn="c", turn="a/s1/t0", attempt=1)  # type: ignore[call-arg]
    line = orjson.loads(encode(sample(ev.TurnEnd)))
    del line["outcome"]
    assert decode_line(orjson.dumps(line)) is None  # a bad line, never a silently defaulted field


def test_wire_format_stays_version_1_with_plain_string_values():
    line = orjson.loads(encode(sample(ev.Disconnect)))
    assert line["v"] == ev.LEDGER_VERSION == 1 and line["kind"] == "disconnect"
    assert line["closed_by"] == "server" and type(line["closed_by"]) is str


def test_every_kind_the_summary_reads_feeds_it_without_error():
    """The summary reads typed attributes, so a field renamed in the schema raises here, never a 0 or SKIP."""
    events = [sample(cls) for cls in ev.EVENT_TYPES]  # one agent, one turn, one fault: the same ids throughout
    s = summarize(events)
    assert (s.events, s.agent_events, s.agents, s.turns, s.turn_attempts) == (len(events), 12, 1, 1, 1)
    assert s.fallbacks == {"agent-0": 1} and s.transports == {"websocket": 1}
    assert s.outcomes == {"completed": 1} and s.cache["hit"] == 1 and s.recovery_modes["cache_hit"] == 1
    assert [(d.agent, d.ended, d.code) for d in s.disconnects] == [("agent-0", "gave_up", 7)]  # same instant: the giveup follows
    assert [f.fault for f in s.faults] == ["fault-0"] and s.faults[0].errors == ("error-0",)
    assert s.run.run_id == "run_id-0" and s.run.stop_reason == ev.StopReason.COMPLETED
    assert s.run.reconnect is not None and s.run.reconnect.max_delay_s == 1.5
    assert s.run.fault_plan is not None and [p.fault for p in s.run.fault_plan] == ["fault-0"]
    assert s.connect_failures == {"HTTP 7": 1} and s.integrity.digests_compared == 1


def test_docs_ledger_md_is_generated_from_the_schema():
    assert DOCS.read_text(encoding="utf-8") == ledger_docs.render(), (
        "docs/ledger.md is stale: python -m reports.ledger.docs > docs/ledger.md")


def test_docs_list_every_kind_and_field():
    text = ledger_docs.render()
    for cls in ev.EVENT_TYPES:
        assert f"### `{cls.__struct_config__.tag}`" in text
        for f in msgspec.structs.fields(cls):
            assert f.name in BASE or f"| `{f.encode_name}` |" in text


def test_nearest_rank_is_the_one_quantile():
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2
    assert (nearest_rank([1, 2, 3, 4], 0.95), nearest_rank([1, 2, 3, 4], 0.0), nearest_rank([5], 0.99)) == (4, 1, 5)
