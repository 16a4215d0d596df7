"""The ready pytest file of a minimal profile: it runs the profile and asserts the failure; with one
flag flipped (``EXPECT_FAILURE``, or ``AGENTSOAK_EXPECT_FIXED=1``) it asserts that the failure is gone."""

from __future__ import annotations

import re

from reports.repro import Signature

__all__ = ["render_test", "regression_file_name"]

_TEMPLATE = '''"""Regression test for {signature}: the minimal profile `agentsoak reproduce --minimize` found.

{origin}
It runs the profile below with `agentsoak run` and asserts that {check} fails{naming}.
Once that is fixed, set EXPECT_FAILURE = False (or run with AGENTSOAK_EXPECT_FIXED=1) and the same test
asserts that it no longer does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: True: the bug is there and the test proves it. Flip to False once it is fixed.
EXPECT_FAILURE = os.environ.get("AGENTSOAK_EXPECT_FIXED", "") != "1"

CHECK = {check_literal}
AGENT = {agent_literal}
PROFILE = {profile_literal}


@pytest.mark.slow
def test_{test_name}(tmp_path: Path) -> None:
    profile = tmp_path / "minimal.yaml"
    profile.write_text(PROFILE)
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.cli", "run", str(profile), "--quiet", "--output-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode in (0, 1), "the run itself broke (exit %d): %s" % (done.returncode, done.stderr[-2000:])
    (run_dir,) = (tmp_path / "runs").iterdir()
    checks = {{c["name"]: c for c in json.loads((run_dir / "report.json").read_text())["checks"]}}
    check = checks[CHECK]
    failed = check["verdict"] == "fail" and (AGENT is None or AGENT in check["agents"])
    if EXPECT_FAILURE:
        assert failed, f"{{CHECK}} did not fail naming {{AGENT}}: {{check['verdict']}}, {{check['detail']}}"
    else:
        assert not failed, f"{{CHECK}} still fails naming {{AGENT}}: {{check['detail']}}"
'''


def _name(signature: Signature) -> str:
    base = signature.check + (f"_{signature.agent}" if signature.agent else "")
    return re.sub(r"[^A-Za-z0-9]+", "_", base).strip("_").lower()


def regression_file_name(signature: Signature) -> str:
    """``test_minimal_<check>_<agent>.py``."""
    return f"test_minimal_{_name(signature)}.py"


def render_test(signature: Signature, profile_yaml: str, origin: str) -> str:
    """The pytest file that runs ``profile_yaml`` and asserts ``signature`` (``origin``: one line on
    where the profile came from)."""
    return _TEMPLATE.format(
        signature=signature, origin=origin, check=signature.check,
        naming=f" naming {signature.agent}" if signature.agent else "",
        check_literal=repr(signature.check), agent_literal=repr(signature.agent),
        profile_literal='"""\\\n' + profile_yaml.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""',
        test_name=f"minimal_{_name(signature)}",
    )
