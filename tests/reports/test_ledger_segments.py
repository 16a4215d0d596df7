"""Compressed ledger files: written in flushed zstd segments, read back streamed, cut files detected."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import msgspec
import orjson
import pytest

from loadtests.progress import LedgerTail
from reports.ledger import (
    FileRead,
    LedgerReadStats,
    LedgerWriter,
    LineTail,
    encode,
    iter_ledger,
    iter_lines,
    ledger_files,
    ledger_path,
)
from reports.ledger import schema as ev
from tests.reports.test_ledger import sample
from tests.timing import MS

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
REPO = Path(__file__).resolve().parents[2]


def agent_events(agents: int, turns: int, seed: int = 1) -> list[list[ev.Event]]:
    """Per flush interval, the events a Locust process writes: each agent runs one turn per interval.

    Values carry the noise of a real run (digests, response ids, sub-microsecond floats).
    """
    rng = random.Random(seed)
    wall, mono = 1_796_156_824.0, 2723.0
    batches = []
    for k in range(turns):
        batch: list[ev.Event] = []
        for i in range(agents):
            a, now = f"a992-{i}", mono + k * 0.5 + i * 0.001 + rng.random() * 1e-3
            tid, digest = f"{a}/s1/t{k}", hashlib.md5(f"{a}{k}".encode()).hexdigest()
            batch.append(ev.TurnStart(t=wall + now, mono=now, agent=a, conn=f"{a}/c1", turn=tid, session=1, index=k,
                                      attempt=1, input_mode=ev.InputMode.INCREMENTAL,
                                      previous_response_id=f"resp_{rng.getrandbits(64):016x}", input_items=2 * k + 1,
                                      input_bytes=rng.randrange(100, 5000), client_digest=digest))
            dur = rng.lognormvariate(4, 0.3)
            batch.append(ev.TurnEnd(t=wall + now + dur / 1e3, mono=now + dur / 1e3, agent=a, conn=f"{a}/c1", turn=tid,
                                    session=1, index=k, attempt=1, outcome=ev.Outcome.COMPLETED,
                                    response_id=f"resp_{rng.getrandbits(64):016x}", error_code=None,
                                    ttft_ms=dur * rng.uniform(0.7, 0.9), duration_ms=dur, output_tokens=rng.randrange(5, 60),
                                    input_tokens=rng.randrange(90, 900), cached_tokens=rng.randrange(0, 800),
                                    gap_p50_ms=rng.uniform(0.9, 1.4), gap_p99_ms=rng.uniform(1.5, 4.0),
                                    tokens_per_s=None, client_digest=digest, server_digest=digest,
                                    cache=ev.CacheOutcome.HIT))
        batches.append(batch)
    return batches


def write_batches(path: Path, batches: list[list[ev.Event]]) -> list[ev.Event]:
    with LedgerWriter(path, flush_interval=3600) as w:
        for batch in batches:
            for e in batch:
                w(e)
            w.flush()
    return [e for b in batches for e in b]


def test_a_run_writes_compressed_segments_that_read_back_as_every_kind(tmp_path):
    path = ledger_path(tmp_path / "ledger", "locust", 7)
    assert path.name == "locust-7.jsonl.zst"
    written = [sample(cls, i) for i, cls in enumerate(ev.EVENT_TYPES)]
    with LedgerWriter(path) as w:
        for e in written:
            w(e)
    assert path.read_bytes()[:4] == ZSTD_MAGIC
    stats = LedgerReadStats()
    assert list(iter_ledger(tmp_path, stats)) == written
    assert (stats.files, stats.lines, stats.bad_lines, stats.cut_files) == (1, len(written), 0, [])


def test_plain_ledgers_of_older_runs_read_beside_compressed_ones(tmp_path):
    old, new = sample(ev.AgentStart, 1), sample(ev.AgentStop, 2)
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "locust-1.jsonl").write_bytes(encode(old))
    with LedgerWriter(tmp_path / "ledger" / "locust-2.jsonl.zst") as w:
        w(new)
    assert [p.name for p in ledger_files(tmp_path)] == ["locust-1.jsonl", "locust-2.jsonl.zst"]
    assert list(iter_ledger(tmp_path)) == [old, new]


@pytest.mark.parametrize("agents", [3, 200])
def test_a_compressed_ledger_takes_at_most_100_bytes_per_event(tmp_path, agents):
    """Also a quiet process (3 agents: 6 events a flush), which one zstd frame per flush would not meet."""
    written = write_batches(tmp_path / "l.jsonl.zst", agent_events(agents, turns=max(4, 1200 // agents)))
    plain = sum(len(encode(e)) for e in written)
    size = (tmp_path / "l.jsonl.zst").stat().st_size
    assert size / len(written) <= 100, f"{size / len(written):.0f} B/event (plain {plain / len(written):.0f})"


def test_times_are_stored_to_the_microsecond_and_every_key_stays():
    e = ev.TurnEnd(t=1_796_156_824.123456789, mono=2723.611031297123, agent="a", conn="a/c1", turn="a/s1/t0",
                   attempt=1, outcome=ev.Outcome.COMPLETED, response_id=None, error_code=None,
                   ttft_ms=57.4532390000968, duration_ms=64, output_tokens=8, input_tokens=1, cached_tokens=0,
                   gap_p50_ms=None, gap_p99_ms=1.608513000064704, tokens_per_s=12.3456789, client_digest=None,
                   server_digest=None, cache=None)
    line = orjson.loads(encode(e))
    assert (line["t"], line["mono"], line["ttft_ms"], line["gap_p99_ms"]) == (
        1_796_156_824.123457, 2723.611031, 57.453, 1.609)
    assert line["duration_ms"] == 64 and line["gap_p50_ms"] is None and line["tokens_per_s"] == 12.345679
    assert set(line) == {"kind", *ev.TurnEnd.__struct_fields__}  # nulls included: a dropped key still fails
    odd = msgspec.structs.replace(e, ttft_ms=float("nan"), gap_p99_ms=float("inf"), duration_ms=1e300)
    assert orjson.loads(encode(odd))["duration_ms"] == 1e300  # out of range: kept as is, never an error


def test_every_cut_of_a_compressed_file_reads_its_flushed_prefix_and_is_counted(tmp_path):
    """Whatever byte a kill -9 stops at: no error, every segment before the cut, and the file named as cut."""
    batches = agent_events(2, turns=6)
    whole = tmp_path / "whole.jsonl.zst"
    write_batches(whole, batches)
    data = whole.read_bytes()
    lines = [encode(e) for b in batches for e in b]
    ends, n = [], 0  # decoded line count after each flushed segment
    for b in batches:
        n += len(b)
        ends.append(n)
    for cut in range(len(data) + 1):
        (tmp_path / "ledger").mkdir(exist_ok=True)
        path = tmp_path / "ledger" / "locust-1.jsonl.zst"
        path.write_bytes(data[:cut])
        stats = LedgerReadStats()
        got = [encode(e) for e in iter_ledger(tmp_path, stats)]
        assert got == lines[:len(got)] and stats.bad_lines == 0, cut
        assert len(got) in (0, *ends), cut  # whole segments only
        assert stats.cut_files == ([] if cut in (0, len(data)) else [path.name]), cut
    assert len(got) == len(lines)


def test_bytes_that_are_not_zstd_end_the_file_with_a_named_cut_never_a_traceback(tmp_path):
    path = tmp_path / "ledger" / "locust-1.jsonl.zst"
    with LedgerWriter(path) as w:
        w(sample(ev.AgentStart))
    with open(path, "ab") as fh:
        fh.write(b"this is not zstd\n")
    stats = LedgerReadStats()
    assert list(iter_ledger(tmp_path, stats)) == [sample(ev.AgentStart)]
    assert stats.cut_files == [path.name]
    assert stats.bad_examples and stats.bad_examples[0].startswith("locust-1.jsonl.zst: not zstd after line 1")


def test_a_reopened_file_reads_across_its_frames(tmp_path):
    path = tmp_path / "ledger" / "orchestrator-1.jsonl.zst"
    for i in range(3):
        with LedgerWriter(path) as w:
            w(sample(ev.AgentStart, i))
    stats = LedgerReadStats()
    assert list(iter_ledger(tmp_path, stats)) == [sample(ev.AgentStart, i) for i in range(3)]
    assert stats.cut_files == []


def test_the_writer_writes_a_segment_when_its_buffer_is_full_without_waiting_for_a_flush(tmp_path):
    path = tmp_path / "l.jsonl.zst"
    w = LedgerWriter(path, flush_interval=3600)
    batches = agent_events(200, turns=4)
    for e in (e for b in batches for e in b):
        w(e)
    try:
        read = FileRead()
        assert len(list(iter_lines(path, read))) > 600 and read.cut  # segments on disk, the frame still open
    finally:
        w.close()
    assert len(list(iter_lines(path))) == 1600


def test_reading_a_compressed_ledger_streams_in_memory_bounded_by_a_segment(tmp_path):
    path = tmp_path / "l.jsonl.zst"
    write_batches(path, agent_events(400, turns=60))  # 48,000 events, ~20 MB of JSON
    plain = sum(len(line) for line in iter_lines(path))
    tracemalloc.start()
    count = sum(1 for _ in iter_lines(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 48_000 and plain > 15e6
    assert peak < 3e6, f"peak {peak / 1e6:.1f} MB while reading {plain / 1e6:.0f} MB"


def test_a_tail_returns_each_flushed_line_once_and_holds_a_partial_segment(tmp_path):
    path = tmp_path / "l.jsonl.zst"
    tail = LineTail(path)
    assert tail.poll() == []  # no file yet
    w = LedgerWriter(path, flush_interval=3600)
    try:
        w(sample(ev.AgentStart, 1))
        assert tail.poll() == []  # buffered, not flushed
        w.flush()
        assert tail.poll() == [encode(sample(ev.AgentStart, 1)).rstrip(b"\n")]
        assert tail.poll() == []
        w(sample(ev.AgentStart, 2))
        w(sample(ev.AgentStart, 3))
        w.flush()
        segment_end = path.stat().st_size
    finally:
        w.close()
    data = path.read_bytes()
    half = tmp_path / "half.jsonl.zst"  # the same file seen while the writer is halfway through a segment
    half.write_bytes(data[:segment_end - 3])
    follow = LineTail(half)
    assert len(follow.poll()) == 1
    half.write_bytes(data)
    assert [orjson.loads(x)["t"] for x in follow.poll()] == [sample(ev.AgentStart, i).t for i in (2, 3)]


def test_live_progress_follows_compressed_ledgers(tmp_path):
    led = tmp_path / "ledger"
    progress = LedgerTail(led)
    w = LedgerWriter(ledger_path(led, "locust", 5), flush_interval=3600)
    try:
        for e in agent_events(4, turns=2)[0]:
            w(e)
        w(ev.AgentStart(agent="a992-0"))
        w(ev.ConnectOk(agent="a992-0", conn="a992-0/c1", attempt=1, reason=ev.ConnectReason.INITIAL,
                       duration_ms=1.0))
        w.flush()
        progress.poll()
        assert (progress.turns, len(progress.agents), len(progress.connected)) == (4, 1, 1)
        w(ev.Disconnect(agent="a992-0", conn="a992-0/c1", code=1006, closed_by=ev.ClosedBy.NETWORK,
                        detected=ev.Detector.EOF, recoverable=True, in_flight=None, silent_ms=0.0))
        w.flush()
        progress.poll()
        assert (progress.turns, progress.disconnects, len(progress.connected)) == (4, 1, 0)
    finally:
        w.close()


_WRITER_SCRIPT = textwrap.dedent("""
    import sys
    from reports.ledger import LedgerWriter
    from reports.ledger import schema as ev

    w = LedgerWriter(sys.argv[1])
    for i in range(10_000_000):
        w(ev.TurnStart(agent="a1-1", conn="a1-1/c1", turn=f"a1-1/s1/t{i}", session=1, index=i, attempt=1,
                       input_mode="incremental", previous_response_id=None, input_items=i, input_bytes=i,
                       client_digest=None))
        if i % 200 == 199:
            w.flush()
            print(i + 1, flush=True)  # every event below this index is on disk
""")


def test_kill_9_mid_stream_leaves_every_flushed_event_readable_and_the_cut_counted(tmp_path):
    path = ledger_path(tmp_path / "ledger", "locust", 1)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER_SCRIPT, str(path)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    try:
        flushed = [int(proc.stdout.readline()) for _ in range(5)]  # killed after its fifth flush, while writing on
        assert flushed == [200, 400, 600, 800, 1000]
    finally:
        proc.kill()
        proc.wait(timeout=5000 * MS)
        proc.stdout.close()
    stats = LedgerReadStats()
    got = [e.index for e in iter_ledger(tmp_path, stats)]
    assert got == list(range(len(got))) and len(got) >= flushed[-1]
    assert stats.cut_files == [path.name] and stats.bad_lines == 0


def test_a_process_that_exits_without_closing_its_writer_still_ends_the_file(tmp_path):
    path = ledger_path(tmp_path / "ledger", "locust", 1)
    script = ("import sys\nfrom reports.ledger import LedgerWriter\nfrom reports.ledger import schema as ev\n"
              "w = LedgerWriter(sys.argv[1], flush_interval=3600)\n"
              "for i in range(3):\n    w(ev.AgentStart(agent=f'a{i}'))\n")
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, check=True, timeout=30)
    stats = LedgerReadStats()
    assert [e.agent for e in iter_ledger(tmp_path, stats)] == ["a0", "a1", "a2"] and stats.cut_files == []


def test_ledger_files_kept_elsewhere_are_read_with_the_runs_own_once_by_name(tmp_path):
    from reports.ledger import LedgerReadStats, iter_ledger

    run, worker = tmp_path / "run", tmp_path / "worker"
    with LedgerWriter(run / "ledger" / "master-1.jsonl.zst") as w:
        w(ev.TestStart(users=2))
    with LedgerWriter(worker / "ledger" / "locust-h-2.jsonl.zst") as w:
        w(ev.TestStart(users=2))
        w(ev.TestStop())
    loose = tmp_path / "loose" / "locust-g-3.jsonl.zst"
    with LedgerWriter(loose) as w:
        w(ev.TestStop())
    # a worker's run directory, a folder of files, one file; the master's copy of a file wins over it
    assert [p.name for p in ledger_files(run, [worker, loose])] == [
        "master-1.jsonl.zst", "locust-h-2.jsonl.zst", "locust-g-3.jsonl.zst"]
    assert [p.name for p in ledger_files(run, [worker / "ledger"])][-1] == "locust-h-2.jsonl.zst"
    (run / "ledger" / "locust-h-2.jsonl.zst").write_bytes((worker / "ledger" / "locust-h-2.jsonl.zst").read_bytes())
    stats = LedgerReadStats()
    assert len(list(iter_ledger(run, stats, [worker, loose]))) == 4 and stats.files == 3
