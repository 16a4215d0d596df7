"""``agentsoak compare A B --threshold METRIC=N[%] --json``: a metric that worsens past its threshold
fails the comparison even when no check flips."""

from __future__ import annotations

import orjson
import pytest

from reports.compare import Threshold, ThresholdSyntaxError
from reports.history.metrics import BY_NAME
from tests.reports.test_history import run_cli

SLOW = {f"a1-{i}": 1500.0 for i in range(4)}  # every reconnect 1.5 s: slower, yet inside every check's limit


def test_a_metric_past_its_threshold_fails_without_a_check_flipping(make_run, capsys):
    a, b = make_run(), make_run(reconnect_ms=SLOW)
    assert run_cli("compare", str(a), str(b)) == 0  # no threshold: only check flips fail, as before
    out = capsys.readouterr().out
    assert "0 check(s) regressed" in out and "reconnect_p99_ms" in out
    assert run_cli("compare", str(a), str(b), "--threshold", "reconnect_p99_ms=50%") == 1
    out = capsys.readouterr().out
    assert "0 check(s) regressed; 1 metric(s) past their threshold" in out
    row = next(line for line in out.splitlines() if "reconnect_p99_ms" in line and "EXCEEDED" in line)
    assert row.split()[:6] == ["EXCEEDED", "reconnect_p99_ms", "750", "ms", "1500", "ms"]
    assert run_cli("compare", str(a), str(b), "--threshold", "reconnect_p99_ms=150%") == 0
    assert run_cli("compare", str(a), str(b), "--threshold", "reconnect_p99_ms=700") == 1
    assert run_cli("compare", str(a), str(b), "--threshold", "reconnect_p99_ms=800") == 0
    # better is never past a threshold
    assert run_cli("compare", str(b), str(a), "--threshold", "reconnect_p99_ms=0") == 0


def test_compare_json(make_run, capsys):
    a, b = make_run(), make_run(reconnect_ms=SLOW)
    assert run_cli("compare", str(a), str(b), "--json", "--threshold", "reconnect_p99_ms=10%") == 1
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["failed"] is True and doc["exceeded_metrics"] == ["reconnect_p99_ms"] and doc["regressed_checks"] == []
    g = next(g for g in doc["gated"] if g["metric"] == "reconnect_p99_ms")
    assert (g["a"], g["b"], g["worsening"], g["status"]) == (750.0, 1500.0, 750.0, "EXCEEDED")
    assert g["threshold"] == {"amount": pytest.approx(0.1), "relative": True, "allowed": pytest.approx(75.0)}
    assert any(c["name"] == "reconnect.time_p99_ms" for c in doc["checks"])


def test_a_check_flip_still_fails(make_run, capsys):
    a, b = make_run(), make_run(lost=("a1-1", 3))
    assert run_cli("compare", str(a), str(b), "--json") == 1
    doc = orjson.loads(capsys.readouterr().out)
    assert "turns.lost" in doc["regressed_checks"]


@pytest.mark.parametrize("text, message", [
    ("ttft_p95=10%", "unknown metric 'ttft_p95' (did you mean ttft_p95_ms?)"),
    ("ttft_p95_ms", "expected METRIC=N% or METRIC=N"),
    ("ttft_p95_ms=fast", "'fast' is not a number or a percentage"),
    ("ttft_p95_ms=-5%", "must be a finite number >= 0"),
])
def test_bad_thresholds_are_one_line_errors(make_run, capsys, text, message):
    a = make_run()
    assert run_cli("compare", str(a), str(a), "--threshold", text) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    with pytest.raises(ThresholdSyntaxError):
        Threshold.parse(text)


def test_relative_threshold_from_zero():
    t = Threshold.parse("lost_turns=10%")
    assert t.metric is BY_NAME["lost_turns"] and t.relative and t.allowed(0.0) == 0.0  # from 0 any worsening counts
