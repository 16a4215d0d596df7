"""The built wheel, installed into a fresh venv outside the checkout, runs a shortened ``agentsoak run smoke``.

End to end as a user of the wheel would do it: build it from a copy of the source (so no stale
``build/`` dir of the checkout can leak into it), install it with ``--no-deps`` into a new venv in a
temporary directory, and run the shipped smoke profile by name from another directory, with no
``PYTHONPATH``. Speed: the wheel is built with ``--no-build-isolation`` (the dev venv's setuptools),
the venv is made ``--without-pip`` (this pip installs into it with ``--python``), and the runtime
dependencies come from a cache directory keyed by the wheel's exact ``Requires-Dist`` and the Python
version (``pip install --target`` once, then shared read-only through a ``.pth`` file). That cache
holds only the declared dependencies, so an undeclared import still fails here; ``pip check`` proves
the declared ones are met.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reports.ledger import iter_lines, ledger_files

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentsoak-tests"
_NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "runs", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", ".ruff_cache")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[:4]} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd)


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCE)
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src), cwd=tmp)
    (wheel,) = (tmp / "dist").glob("agentsoak-*.whl")
    return wheel


def _requires(wheel: Path) -> list[str]:
    """The wheel's runtime requirements (no extras), from its METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return sorted(line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("Requires-Dist:") and "extra ==" not in line)


def _dependencies(requires: list[str], tmp: Path) -> Path:
    """A directory holding exactly ``requires``, installed once per requirement set and Python."""
    key = hashlib.sha256("\n".join([*requires, sys.version, platform.machine()]).encode()).hexdigest()[:16]
    target = CACHE / f"deps-{key}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # a second suite beside this one waits, then reuses it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            partial = CACHE / f"deps-{key}.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            _pip("install", "-q", "--no-compile", "--target", str(partial), *requires, cwd=tmp)
            (partial / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
    return target


def _fresh_venv(tmp: Path, deps: Path) -> tuple[Path, Path]:
    """A new venv (no pip) that sees ``deps`` through a .pth file; returns (its python, its site-packages)."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=tmp).stdout.strip())
    (purelib / "agentsoak-test-deps.pth").write_text(f"{deps}\n")
    return python, purelib


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TOXIPROXY_URL")}


def test_the_wheel_runs_smoke_by_name_from_anywhere(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {n.split("/", 1)[0] for n in names} == {"loadtests", "faults", "reports", "profiles",
                                                   "agentsoak-0.1.0.dist-info"}
    for shipped in ("loadtests/protocol/__init__.py", "loadtests/server/__main__.py", "faults/child.py",
                    "profiles/__init__.py", "profiles/smoke.yaml", "loadtests/locustfile.py"):
        assert shipped in names, shipped

    python, purelib = _fresh_venv(tmp_path, _dependencies(_requires(wheel), tmp_path))
    _pip("--python", str(python), "install", "-q", "--no-deps", "--no-compile", str(wheel), cwd=tmp_path)
    assert "No broken requirements" in _pip("--python", str(python), "check", cwd=tmp_path).stdout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env()
    probe = ("import json, sys, loadtests.cli, loadtests.protocol, loadtests.server, faults.client, reports, "
             "profiles; print(json.dumps({'files': [m.__file__ for m in (loadtests.cli, loadtests.protocol, "
             "loadtests.server, faults.client, reports, profiles)], 'path': sys.path}))")
    where = json.loads(_run([str(python), "-c", probe], cwd=elsewhere, env=env).stdout)
    for file in where["files"]:
        assert Path(file).is_relative_to(purelib), f"{file} is not from the new venv"
    assert not any(Path(p).resolve() == REPO or Path(p).resolve().is_relative_to(REPO)
                   for p in where["path"] if p), where["path"]

    listed = _run([str(python.parent / "agentsoak"), "profiles"], cwd=elsewhere, env=env).stdout
    assert "smoke" in listed.split() and "broken-recovery" in listed.split()

    done = subprocess.run(
        [str(python.parent / "agentsoak"), "run", "smoke", "--quiet", "--output-dir", "runs",
         "--set", "load.users=5", "--set", "load.spawn_rate=5", "--set", "load.duration=8s",
         "--set", "faults[0].at=2s", "--set", "faults[0].duration=2s", "--set", "faults[1].at=5s"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = (elsewhere / "runs").iterdir()
    assert run_dir.name.endswith("-smoke")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "PASS"
    events = [json.loads(line) for f in ledger_files(run_dir) for line in iter_lines(f) if line.strip()]
    assert len({e["agent"] for e in events if e["kind"] == "agent_start"}) == 5
    assert sorted(e["fault"] for e in events if e["kind"] == "fault_apply") == ["drop-all#0", "slow-link#0"]
    assert any(e["kind"] == "turn_end" for e in events)
