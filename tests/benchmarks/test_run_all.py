"""``make bench``'s table: the BENCH rows each script prints, gathered and laid out in one table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_scripts_bench_rows_are_gathered_and_its_other_lines_are_echoed(tmp_path, capsys):
    script = tmp_path / "bench_fake.py"
    script.write_text(
        "import json\nprint('figures: 1, 2, 3')\n"
        "print('BENCH ' + json.dumps([{'metric': 'frames per CPU-s', 'value': 91000, 'unit': 'frames/CPU-s', "
        "'baseline': 'raw loop', 'baseline_value': 100000, 'ratio': 0.91, 'target': '>= 0.9x'}]))\n")
    run_all = _run_all()
    code, rows = run_all.run(script)
    assert code == 0 and rows[0]["ratio"] == 0.91
    out = capsys.readouterr().out
    assert "figures: 1, 2, 3" in out and "BENCH" not in out
    text = run_all.table(rows + [{"metric": "toxiproxy-server", "value": None, "unit": "-", "baseline": "not on PATH",
                                  "baseline_value": None, "ratio": None, "target": "-"}], "github")
    lines = text.splitlines()
    assert lines[0].startswith("| metric") and "ratio" in lines[0]
    assert "| frames per CPU-s" in lines[2] and "91,000 frames/CPU-s" in lines[2] and "0.91x" in lines[2]
    assert "not on PATH" in lines[3]


def test_an_unknown_benchmark_name_is_refused(capsys):
    assert _run_all().main(["--only", "nosuch"]) == 2
    assert "no such benchmark: bench_nosuch.py" in capsys.readouterr().err


def test_the_machine_line_names_cores_and_python():
    line = _run_all().machine()
    assert "cores" in line and f"Python {sys.version_info.major}.{sys.version_info.minor}" in line
