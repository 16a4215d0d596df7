"""Child processes: a ready line or probe with a timeout, errors that say who and why, a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from faults.child import Child, ChildStartError

pytestmark = pytest.mark.timeout(60)


def _py(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", textwrap.dedent(code)]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_ready_line_then_the_rest_of_stdout_goes_to_the_log(tmp_path: Path) -> None:
    """Lines before the ready one and everything after it land in the log; the ready line is returned."""
    log = tmp_path / "c.log"
    code = """
        import sys, time
        print("warming up")
        print("ready at 1234")
        print("after ready")
        sys.stderr.write("on stderr\\n")
        time.sleep(60)
    """
    with Child.start("demo", _py(code), ready="ready at", log_path=log) as child:
        assert child.ready_line == "ready at 1234"
        assert _wait_for(lambda: "after ready" in log.read_text() and "on stderr" in log.read_text())
        assert "warming up" in log.read_text()
        pid = child.pid
    assert child.poll() == -signal.SIGTERM and _gone(pid)
    assert log.exists()  # a log the caller named is the caller's


def test_early_exit_names_component_words_and_log(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    code = """
        import sys
        sys.stderr.write("port 80 is taken\\n")
        sys.exit(3)
    """
    with pytest.raises(ChildStartError) as err:
        Child.start("reference server", _py(code), ready="listening on", log_path=log)
    e = err.value
    assert (e.component, e.reason, e.log_path) == ("reference server", "exited with code 3", str(log))
    assert "port 80 is taken" in e.said
    assert str(e).startswith("reference server did not start: exited with code 3; it said ")
    assert str(e).endswith(f"; see {log}")


def test_a_silent_child_times_out_and_is_stopped() -> None:
    """No ready line within the timeout: the error says so, the child is gone, its temp log kept."""
    t0 = time.monotonic()
    with pytest.raises(ChildStartError) as err:
        Child.start("sleeper", _py("import time; print('booting'); time.sleep(60)"), ready="ready",
                    timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert err.value.reason == "not ready within 0.5 s"
    assert err.value.said == "booting"
    log = Path(err.value.log_path)
    assert log.name.startswith("agentsoak-sleeper-") and log.read_text() == "booting\n"
    log.unlink()


def test_probe_mode_waits_until_the_probe_passes(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    code = f"""
        import time, pathlib
        time.sleep(0.3)
        pathlib.Path({str(flag)!r}).write_text("1")
        time.sleep(60)
    """

    def probe() -> None:
        if not flag.exists():
            raise ConnectionRefusedError("not yet")

    child = Child.start("prober", _py(code), probe=probe, timeout=10)
    try:
        assert flag.exists() and child.poll() is None
    finally:
        child.close()
    assert not Path(child.log_path).exists()  # a temporary log goes with the child


def test_probe_timeout_reports_the_last_probe_error() -> None:
    def probe() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ChildStartError) as err:
        Child.start("prober", _py("import time; time.sleep(60)"), probe=probe, timeout=0.3)
    assert err.value.reason == "not ready within 0.3 s (last probe: ConnectionRefusedError: refused)"
    Path(err.value.log_path).unlink()


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready")
        time.sleep(60)
    """
    child = Child.start("stubborn", _py(code), ready="ready")
    t0 = time.monotonic()
    assert child.stop(timeout=0.3) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5
    child.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_dies_with_its_parent() -> None:
    """A parent killed with SIGKILL (no cleanup runs) takes the child it started with it."""
    parent_code = """
        import time
        from faults.child import Child
        child = Child.start("orphan", ["sleep", "60"], probe=lambda: None)
        print(child.pid, flush=True)
        time.sleep(60)
    """
    parent = subprocess.Popen(_py(parent_code), stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
        parent.kill()
        parent.wait(10)
        assert _wait_for(lambda: _gone(pid)), f"child {pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_forked_process_that_ties_itself_dies_with_its_parent() -> None:
    """Locust's ``--processes`` workers are forked, not exec'd: ``tie_to_parent`` gives them the same tie."""
    parent_code = """
        import os, time
        from faults.child import tie_to_parent
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            tie_to_parent(parent)
            os.write(1, b"tied\\n")
            time.sleep(60)
            os._exit(0)
        os.write(1, f"{pid}\\n".encode())  # one write per line: the two processes share the pipe
        time.sleep(60)
    """
    parent = subprocess.Popen(_py(parent_code), stdout=subprocess.PIPE, text=True)
    pid = 0
    try:
        assert parent.stdout is not None
        said = {parent.stdout.readline().strip() for _ in range(2)}  # its pid, and "tied" (either order)
        assert "tied" in said, said
        pid = int(next(x for x in said if x != "tied"))
        assert not _gone(pid)
        parent.kill()
        parent.wait(10)
        assert _wait_for(lambda: _gone(pid)), f"forked child {pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
