"""Repro bundles (``reports.repro``): written for each failed check, bounded, read back with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import tests.reports.builder as builder
from faults.draws import toxic_hit
from faults.identity import agent_name
from loadtests.profile import parse_profile
from reports.ledger import LedgerWriter, iter_ledger
from reports.ledger import schema as ev
from reports.report import build_report, write_report
from reports.repro import BundleError, read_bundle, write_bundles
from reports.repro import evidence as evidence_mod
from reports.repro.model import AppliedFault
from reports.repro.replay import replay_profile

PROFILE = """name: unit
seed: 7
load: {users: 4, spawn_rate: 50, duration: 120s}
faults:
  - {name: drop-all, kind: down, at: 40s, duration: 5s}
  - {name: slow, kind: toxic, type: latency, at: 10s, duration: 10s, share: 1.0, attributes: {latency: 50}}
  - {name: kick, kind: close, code: 1012, at: 30s, share: 0.5}
  - {name: poke, kind: evict, at: 60s, every: 20s, share: 0.5}
"""


@pytest.fixture
def failing_run(tmp_path, monkeypatch) -> Path:
    """The builder's 4-agent run with agent-0002's turn 5 served from the wrong state, a resolved
    profile, extra fault windows (one hitting agent 2, one not) and server/proxy logs."""
    monkeypatch.setattr(builder, "agent_id", lambda i: agent_name(i + 1))
    run = builder.build(tmp_path / "run", builder.Scenario(mismatch=("agent-0002", 5)))
    (run / "profile.resolved.yaml").write_text(yaml.safe_dump(parse_profile(PROFILE).to_dict()))
    w = LedgerWriter(run / "ledger" / "master-40.jsonl")

    def at(kind, s, **kw):
        w.write(kind(mono=builder.T0 + s, t=builder.WALL + builder.T0 + s, **kw))

    at(ev.FaultApply, 10, fault="slow#0", type="latency", share=1.0, start_s=10, duration_s=10,
       attributes={"latency": 50, "stream": "downstream", "toxicity": 1.0})
    at(ev.FaultRemove, 20, fault="slow#0", type="latency")
    at(ev.FaultApply, 30, fault="kick#0", type="close", share=0.5, start_s=30, duration_s=0, attributes={"code": 1012},
       affected=2, hit=["agent-0002/c1", "agent-0004/c1"])
    at(ev.FaultRemove, 30, fault="kick#0", type="close")
    for k, hit in enumerate((["agent-0003/c2"], ["agent-0002/c2", "agent-0001/c2"])):
        s = 60 + 20 * k
        at(ev.FaultApply, s, fault=f"poke#{k}", type="evict", share=0.5, start_s=s, duration_s=0, attributes={},
           affected=len(hit), hit=hit)
        at(ev.FaultRemove, s, fault=f"poke#{k}", type="evict")
    w.close()
    logs = run / "logs"
    logs.mkdir()
    (logs / "server.log").write_text(
        "x INFO agentsoak.server: listening on http://127.0.0.1:1 seed=7\n"
        "x INFO agentsoak.server: c1 open peer=127.0.0.1 client=agent-0001/c1\n"
        "x INFO agentsoak.server: c2 open peer=127.0.0.1 client=agent-0002/c1\n"
        "x INFO agentsoak.server: c2 wrong_state fault: resp_9 served from another state\n"
        "x INFO agentsoak.server: c12 closed turns=3\n"
        "x INFO agentsoak.server: c1 closed turns=30\n")
    (logs / "proxy.log").write_text("x INFO agentsoak.proxy: agent-0002/c1: connection #2 of proxy agentsoak\n"
                                    "x INFO agentsoak.proxy: agent-0003/c1: connection #3 of proxy agentsoak\n")
    return run


def test_a_failed_check_gets_a_bundle_with_its_agents_and_the_timeline_as_applied(failing_run):
    report = build_report(failing_run)
    assert [c.name for c in report.failed] == ["context.digest_mismatches"]
    paths = write_report(report)
    where = paths["repro:context.digest_mismatches"]
    assert where == failing_run / "repro" / "context.digest_mismatches"
    loaded = read_bundle(where)
    b = loaded.bundle
    assert str(b.signature) == "context.digest_mismatches @ agent-0002" and b.agents == [2]
    assert b.failed_on == "turn agent-0002/s1/t5" and b.failed_at_s == pytest.approx(6.0, abs=0.01)
    assert (b.original.agents, b.replay.agents, b.original.faults) == (4, 1, 4)
    windows = {w.fault: w for w in b.timeline}
    assert windows["slow#0"].hit == ["agent-0002/c1"] and "toxic_hit" in windows["slow#0"].hit_by
    assert toxic_hit(7, "agentsoak", "agent-0002/c1", "downstream", "slow_0", 1.0)
    assert (windows["kick#0"].hit, windows["kick#0"].hit_total) == (["agent-0002/c1"], 2)
    assert windows["poke#0"].hit == [] and windows["poke#1"].hit == ["agent-0002/c2"]
    assert windows["drop-all#0"].hit == ["agent-0002/c1"]  # down cuts every open connection
    assert windows["kick#0"].applied_s == 30.0 and windows["slow#0"].removed_s == 20.0
    assert windows["kick#0"].applied_at.startswith("2026-01-01T00:00:30")

    replay = parse_profile(loaded.profile.read_text(), source=str(loaded.profile))
    assert replay.load.agents == (2,) and replay.load.users == 4 and replay.load.processes == 1
    by_name = {f.name: f for f in replay.faults}
    assert by_name["kick"].agents == ("agent-0002",) and by_name["kick"].share == 1.0
    assert by_name["poke.0"].agents == () and by_name["poke.1"].agents == ("agent-0002",)
    assert by_name["poke.1"].at_s == 80 and by_name["poke.1"].every_s is None
    assert by_name["slow"].agents is None and by_name["slow"].share == 1.0  # toxics keep name and draws

    slice_ = [json.loads(line) for line in (where / "ledger" / "agent-0002.jsonl").read_text().splitlines()]
    assert slice_ and {e["agent"] for e in slice_} == {"agent-0002"}
    assert any(e["kind"] == "fault_apply" for e in map(json.loads, (where / "ledger/run.jsonl").read_text().splitlines()))
    server = (where / "logs" / "server.log").read_text()
    assert "c2 open" in server and "c2 wrong_state" in server and "c1 " not in server and "c12" not in server
    assert (where / "logs" / "proxy.log").read_text().count("\n") == 1
    readme = (where / "README.md").read_text()
    assert "agentsoak reproduce repro/context.digest_mismatches" in readme
    assert "| kick#0 | close | 30 |" in readme and "truncated" not in readme
    assert yaml.safe_load((where / "original.yaml").read_text())["load"]["users"] == 4


def test_a_fault_added_by_hand_is_in_the_bundle_marked_manual(failing_run):
    w = LedgerWriter(failing_run / "ledger" / "master-41.jsonl")
    w.write(ev.FaultApply(mono=builder.T0 + 50, t=builder.WALL + builder.T0 + 50, fault="drop-all#m1", type="close",
                          share=1.0, start_s=50, duration_s=0, attributes={"code": 1006}, affected=1,
                          hit=["agent-0002/c2"], manual=True))
    w.write(ev.FaultRemove(mono=builder.T0 + 50, t=builder.WALL + builder.T0 + 50, fault="drop-all#m1",
                           type="close", manual=True))
    w.close()
    where = write_report(build_report(failing_run))["repro:context.digest_mismatches"]
    windows = {f.fault: f for f in read_bundle(where).bundle.timeline}
    assert windows["drop-all#m1"].manual and windows["drop-all#m1"].hit == ["agent-0002/c2"]
    assert not windows["kick#0"].manual
    readme = (where / "README.md").read_text()
    assert "| drop-all#m1 (manual) | close | 50 |" in readme and "| kick#0 | close | 30 |" in readme


def test_bundles_are_bounded_and_say_when_cut(failing_run, monkeypatch):
    monkeypatch.setattr(evidence_mod, "SLICE_EVENTS", 10)
    (where,) = write_bundles(build_report(failing_run))
    b = read_bundle(where).bundle
    files = {f.path: f for f in b.files}
    agent = files["ledger/agent-0002.jsonl"]
    assert agent.kept == 10 and agent.total > 10 and agent.truncated
    lines = (where / "ledger" / "agent-0002.jsonl").read_text().splitlines()
    everything = [e for e in iter_ledger(failing_run) if getattr(e, "agent", None) == "agent-0002"]
    assert json.loads(lines[0])["mono"] == everything[0].mono and json.loads(lines[-1])["mono"] == everything[-1].mono
    assert f"(**truncated**: the first and last 5 of {agent.total})" in (where / "README.md").read_text()


def test_a_passing_run_writes_no_bundle(make_run):
    report = build_report(make_run())
    assert write_bundles(report) == [] and not (report.run_dir / "repro").exists()


def _bundle(failing_run: Path) -> Path:
    (where,) = write_bundles(build_report(failing_run))
    return where


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: (d / "bundle.json").unlink(), "bundle.json: missing: not a repro bundle"),
    (lambda d: (d / "bundle.json").write_text("{nope"), "bundle.json: not valid JSON"),
    (lambda d: (d / "bundle.json").write_text("[]"), "bundle.json: expected a JSON object, got list"),
    (lambda d: _edit(d, lambda j: j["signature"].update(check=7)), "bundle.json: signature.check: expected str, got int"),
    (lambda d: _edit(d, lambda j: j.pop("agents")), "bundle.json: agents: missing (a required field)"),
    (lambda d: _edit(d, lambda j: j["timeline"][0].pop("fault")), "bundle.json: timeline[0].fault: missing"),
    (lambda d: _edit(d, lambda j: j.update(format=99)), "bundle.json: format: 99 is newer than this agentsoak"),
    (lambda d: _edit(d, lambda j: j["signature"].update(check="turns.lost")), "signature.check: 'turns.lost' is not"),
    (lambda d: (d / "profile.yaml").unlink(), "profile.yaml: missing: the bundle has no replay profile"),
])
def test_a_bad_bundle_is_refused_naming_the_file_and_field(failing_run, change, message):
    where = _bundle(failing_run)
    change(where)
    with pytest.raises(BundleError) as err:
        read_bundle(where)
    assert message in str(err.value) and str(where) in str(err.value)


def test_a_missing_bundle_directory_is_named(tmp_path):
    with pytest.raises(BundleError, match="no such bundle directory"):
        read_bundle(tmp_path / "nope")


def _edit(where: Path, how) -> None:
    doc = json.loads((where / "bundle.json").read_text())
    how(doc)
    (where / "bundle.json").write_text(json.dumps(doc))


def _window(fault: str, hit: list[str], start: float) -> AppliedFault:
    return AppliedFault(fault=fault, type="close", planned_start_s=start, planned_duration_s=0, applied_at=None,
                        applied_s=start, removed_s=start, share=0.5, attributes={}, hit=hit, hit_total=len(hit),
                        hit_by="test")


def test_replay_profile_aims_picking_faults_and_leaves_the_rest():
    resolved = parse_profile(PROFILE).to_dict()
    timeline = [_window("kick#0", ["agent-0003/c1", "agent-0009/c1"], 30),
                _window("poke#0", ["agent-0001/c2"], 60), _window("poke#1", [], 80), _window("poke#2", [], 100)]
    out = replay_profile(resolved, [1, 3], timeline)
    assert out["load"]["agents"] == [1, 3] and out["name"] == "unit-repro"
    names = [f["name"] for f in out["faults"]]
    assert names == ["drop-all", "slow", "kick", "poke.0", "poke.1", "poke.2"]
    aimed = {f["name"]: f.get("agents") for f in out["faults"]}
    assert aimed == {"drop-all": None, "slow": None, "kick": [3], "poke.0": [1], "poke.1": [], "poke.2": []}
    parse_profile(yaml.safe_dump(out))  # a valid profile
    assert replay_profile(resolved, [], timeline)["faults"] == resolved["faults"]  # every agent: as it was


def test_agentsoak_report_on_a_partial_run_writes_the_bundles_too(tmp_path, monkeypatch):
    """A run killed half-way (no run.json, no run_stop, a cut last line): its report still fails the
    check and writes the bundle; the slice holds what was flushed."""
    monkeypatch.setattr(builder, "agent_id", lambda i: agent_name(i + 1))
    run = builder.build(tmp_path / "run", builder.Scenario(mismatch=("agent-0002", 5), partial=True))
    report = build_report(run)
    assert report.partial and [c.name for c in report.failed] == ["context.digest_mismatches"]
    paths = write_report(report)
    b = read_bundle(paths["repro:context.digest_mismatches"]).bundle
    assert b.agents == [2] and b.files[0].kept > 0
