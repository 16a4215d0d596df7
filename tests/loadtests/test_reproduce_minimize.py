"""The minimisation's search (``loadtests.reproduce.minimize``) against a fake replayer: no runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.profile import parse_profile
from loadtests.reproduce.minimize import MARGIN_S, Minimizer, run_length
from loadtests.reproduce.regression import regression_file_name, render_test
from loadtests.reproduce.trials import Trial, Verdict
from reports.repro import Judgement, Signature

SIG = Signature(check="context.digest_mismatches", agent="agent-0010")
BASE = parse_profile("""name: a-repro
seed: 11
load: {users: 30, spawn_rate: 100, duration: 3s, agents: [4, 10, 17]}
faults:
  - {name: slow, kind: toxic, type: latency, at: 0.5s, duration: 1s, share: 0.3, attributes: {latency: 20}}
  - {name: evict-some, kind: evict, at: 0.8s, share: 1.0, agents: []}
  - {name: stale, kind: wrong_state, at: 1s, duration: 1s, share: 1.0, turns: 1, agents: [10]}
  - {name: drop, kind: close, code: 1012, at: 2s, share: 1.0, agents: [10]}
  - {name: jitter, kind: toxic, type: latency, at: 2.2s, duration: 0.5s, share: 0.5, attributes: {latency: 5}}
""").to_dict()


class FakeReplayer:
    """Reproduces when the ``stale`` wrong_state is in the timeline, agent 10 runs, the fault starts at
    or after 0.3 s (agent 10 is connected by then) and covers +1.2 s; it fails at max(at, 0.3) + 0.2 s."""

    def __init__(self) -> None:
        self.runs = 0
        self.profiles: list = []

    def verdict(self, profile, label, n, k, on_trial=None) -> Verdict:
        self.profiles.append(profile)
        stale = [f for f in profile.faults if f.name == "stale"]
        ok = bool(stale) and 10 in (profile.load.agents or ()) and stale[0].at_s >= 0.3
        at = (stale[0].at_s + 0.2) if ok else None
        if ok:
            end = stale[0].at_s + (stale[0].duration_s or profile.load.duration_s)
            ok = end >= at and profile.load.duration_s >= at + MARGIN_S
        trials = []
        for _ in range(k if ok else n - k + 1):  # the early stop: k hits, or n-k+1 misses
            self.runs += 1
            trials.append(Trial(self.runs, Path(f"/nowhere/{self.runs}"),
                                Judgement(ok, "fake", failed_at_s=at if ok else None), 1.0))
        return Verdict(n, k, tuple(trials))


def test_the_minimisation_ends_with_the_one_fault_and_the_one_agent():
    replayer = FakeReplayer()
    lines: list[str] = []
    outcome = Minimizer(BASE, SIG, replayer, n=3, k=2, say=lines.append).run()  # type: ignore[arg-type]
    assert outcome.reproduced and outcome.broken is None
    m = outcome.minimal
    assert [f["name"] for f in m.faults] == ["stale"] and m.agents == (10,)
    assert m.duration == run_length(m.faults[0]["at"] + 0.2) < 3.0
    assert 0.3 <= m.faults[0]["at"] < 1.0 and m.faults[0]["duration"] < 1.0
    assert outcome.runs == replayer.runs and outcome.runs <= 40, lines
    keys = [p.to_dict() for p in replayer.profiles]
    assert len({str(k) for k in keys}) == len(keys)  # no candidate ran twice
    profile = parse_profile(__import__("yaml").safe_dump(outcome.profile))
    assert profile.load.agents == (10,) and profile.name == "a-minimal"


def test_a_bundle_that_does_not_reproduce_is_not_minimised():
    class Never(FakeReplayer):
        def verdict(self, profile, label, n, k, on_trial=None):
            self.runs += 1
            return Verdict(n, k, (Trial(1, Path("/x"), Judgement(False, "passed"), 1.0),) * (n - k + 1))

    outcome = Minimizer(BASE, SIG, Never(), n=3, k=2).run()  # type: ignore[arg-type]
    assert not outcome.reproduced and outcome.runs == 1 and outcome.minimal == outcome.start


def test_a_broken_replay_stops_the_search():
    class Broken(FakeReplayer):
        def verdict(self, profile, label, n, k, on_trial=None):
            self.runs += 1
            return Verdict(n, k, (), broken="the run broke: locust exited with code 3")

    outcome = Minimizer(BASE, SIG, Broken(), n=3, k=2).run()  # type: ignore[arg-type]
    assert outcome.broken == "the run broke: locust exited with code 3" and outcome.runs == 1


@pytest.mark.parametrize(("at", "seconds"), [(0.0, 1.0), (0.4, 1.0), (0.51, 2.0), (2.6, 4.0)])
def test_run_length_is_whole_seconds_past_the_failure(at, seconds):
    assert run_length(at) == seconds


def test_the_regression_file_asserts_the_failure_and_flips(tmp_path, monkeypatch):
    text = render_test(SIG, "name: x\n", "From run r1.")
    assert regression_file_name(SIG) == "test_minimal_context_digest_mismatches_agent_0010.py"
    ns: dict = {}
    exec(compile(text, "t.py", "exec"), ns)
    assert ns["EXPECT_FAILURE"] is True and ns["CHECK"] == SIG.check and ns["AGENT"] == SIG.agent
    assert ns["PROFILE"] == "name: x\n"
    monkeypatch.setenv("AGENTSOAK_EXPECT_FIXED", "1")
    ns = {}
    exec(compile(text, "t.py", "exec"), ns)
    assert ns["EXPECT_FAILURE"] is False
