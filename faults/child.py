"""One child process: start it, wait until it is ready (with a timeout), stop it.

Every component agentsoak runs beside itself (the reference server, the embedded or real Toxiproxy,
the test fixtures' servers) goes through :class:`Child`, so all of them fail the same way: a child
that exits or stays silent before it is ready raises :class:`ChildStartError` naming the component,
what it said and where its log is, and never hangs its parent.

Readiness is one of two things:

- ``ready="prefix"``: the first stdout line that starts with it (``listening on http://…``); the
  rest of stdout is copied to the log by a daemon thread, so a chatty child never fills the pipe;
- ``probe=callable``: polled until it returns without raising (children that print nothing,
  such as a ``toxiproxy-server`` binary).

stderr (and stdout, once past the ready line) goes to ``log_path``; without one, to a temporary
file that :meth:`Child.close` removes (a failed start keeps it: the error names it).

Parent-death tie: on Linux a child started from the main thread gets ``PR_SET_PDEATHSIG`` (SIGTERM)
through ``prctl`` in ``preexec_fn``, so a parent killed with SIGKILL (or by the OOM killer) takes its
children with it. The signal follows the *thread* that forked, hence main thread only. Elsewhere
(macOS, other threads) nothing is tied; :func:`parent_death_hook` is the one place to extend.
A process that is forked, not exec'd (Locust's workers), ties itself with :func:`tie_to_parent`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["Child", "ChildStartError", "parent_death_hook", "tie_to_parent", "START_TIMEOUT_S"]

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_S = 0.05


class ChildStartError(RuntimeError):
    """A child exited or stayed silent before it was ready.

    Attributes:
        component: what the child is (``reference server``, ``embedded Toxiproxy``).
        reason: ``exited with code N`` or ``not ready within N s``.
        said: its stdout so far and the end of its log ("" when silent).
        log_path: where the rest of its output is.
    """

    def __init__(self, component: str, reason: str, said: str, log_path: str) -> None:
        self.component, self.reason, self.said, self.log_path = component, reason, said, log_path
        super().__init__(f"{component} did not start: {reason}; it said {said!r}; see {log_path}")


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after the fork
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child's life to this process, or None where that is not possible."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _PRCTL, os.getpid()

    def tie() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return tie


def tie_to_parent(parent: int, sig: signal.Signals = signal.SIGTERM) -> bool:
    """Tie this (already running) process to ``parent``: ``sig`` when the thread that forked it dies.

    For processes that are forked rather than exec'd by a :class:`Child` (Locust's ``--processes``
    workers, forked by their master). Exits at once if ``parent`` is already gone. Returns whether
    a tie was made (False where the platform has none).
    """
    if _PRCTL is None:
        return False
    _PRCTL(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent:  # it died before the tie was made
        os._exit(1)
    return True


class Child:
    """A started child process that said it is ready; :meth:`stop` ends it."""

    def __init__(self, component: str, proc: subprocess.Popen[bytes], log_path: str, *, temp_log: bool,
                 ready_line: str) -> None:
        self.component = component
        self.proc = proc
        self.log_path = log_path
        self.ready_line = ready_line
        self._temp_log = temp_log
        self._drainer: threading.Thread | None = None

    @classmethod
    def start(cls, component: str, argv: Sequence[str], *, ready: str | None = None,
              probe: Callable[[], object] | None = None, log_path: str | os.PathLike[str] | None = None,
              timeout: float = START_TIMEOUT_S, env: Mapping[str, str] | None = None,
              new_session: bool = False) -> Child:
        """Start ``argv`` and wait until it is ready.

        Args:
            component: names the child in errors.
            ready: the prefix of the stdout line that says it is ready.
            probe: polled until it returns without raising (instead of, or after, ``ready``).
            log_path: where stderr (and later stdout) go, appended; default a temporary file.
            timeout: seconds until it must be ready.
            env: the child's environment (default this process's).
            new_session: run it in its own session, away from the terminal's Ctrl-C.

        Raises:
            ChildStartError: it exited, or was not ready within ``timeout``; it is stopped first.
        """
        temp_log = log_path is None
        if log_path is None:
            fd, path = tempfile.mkstemp(prefix=f"agentsoak-{component.replace(' ', '-')}-", suffix=".log")
            os.close(fd)
        else:
            path = os.fspath(log_path)
        with open(path, "ab") as log:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if ready else log,
                stderr=log, env=None if env is None else dict(env), start_new_session=new_session,
                preexec_fn=parent_death_hook(),  # only prctl, looked up before the fork
            )
        child = cls(component, proc, path, temp_log=temp_log, ready_line="")
        deadline = time.monotonic() + timeout
        if ready is not None:
            child.ready_line = child._await_line(ready, deadline, timeout)
        if probe is not None:
            child._await_probe(probe, deadline, timeout)
        return child

    # -- readiness --------------------------------------------------------------------------------
    def _await_line(self, prefix: str, deadline: float, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd, buf = self.proc.stdout.fileno(), b""
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                if text.startswith(prefix):
                    self._drain(buf)
                    return text
                self._append_log(line + b"\n")
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"not ready within {timeout:g} s", buf)
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait(STOP_TIMEOUT_S)
                    self._fail(f"exited with code {self.proc.returncode}", buf)
                buf += chunk

    def _await_probe(self, probe: Callable[[], object], deadline: float, timeout: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"exited with code {self.proc.returncode}", b"")
            try:
                probe()
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet; the last one goes into the error
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(_POLL_S)
        self._fail(f"not ready within {timeout:g} s (last probe: {last})", b"")

    def _fail(self, reason: str, unread: bytes) -> None:
        self._append_log(unread)
        self.stop()
        said = self._log_tail()
        raise ChildStartError(self.component, reason, said, self.log_path)

    def _append_log(self, data: bytes) -> None:
        if data:
            with open(self.log_path, "ab") as log:
                log.write(data)

    def _log_tail(self, lines: int = 5, limit: int = 800) -> str:
        with contextlib.suppress(OSError):
            text = Path(self.log_path).read_text(errors="replace").strip()
            return "\n".join(text.splitlines()[-lines:])[-limit:]
        return ""

    def _drain(self, first: bytes) -> None:
        """Copy what stdout says after the ready line to the log, until the child closes it."""
        out = self.proc.stdout
        assert out is not None
        self._append_log(first)

        def copy() -> None:  # owns the pipe from here on: it closes it at EOF, nobody else does
            with contextlib.suppress(OSError, ValueError), out, open(self.log_path, "ab", buffering=0) as log:
                while chunk := out.read1(65536):
                    log.write(chunk)

        self._drainer = threading.Thread(target=copy, name=f"{self.component} stdout", daemon=True)
        self._drainer.start()

    # -- life ---------------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.wait(STOP_TIMEOUT_S)

    def kill(self) -> int:
        """SIGKILL at once: every socket it holds drops with no goodbye."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(STOP_TIMEOUT_S)

    def close(self) -> None:
        """Stop it and remove its temporary log, if it had one."""
        self.stop()
        if self._drainer is not None:
            self._drainer.join(STOP_TIMEOUT_S)  # EOF once the child is gone (unless it left a grandchild)
        elif self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._temp_log:
            Path(self.log_path).unlink(missing_ok=True)

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

