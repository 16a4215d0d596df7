"""The master collects each worker's ledger file into its run directory (in place, copied, kept, gone).

Runners here are stand-ins that deliver Locust's custom messages between threads (``import locust``
patches a process for gevent; never in pytest's): the messages and their handlers are the real ones.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from loadtests import ledger_collect
from loadtests.run_state import release, state_for
from reports.ledger import iter_ledger
from reports.ledger import schema as ev


class MasterRunner:
    def __init__(self) -> None:
        self.environment = SimpleNamespace(runner=self, stop_timeout=0)
        self.custom_messages: dict = {}
        self.clients: dict = {}
        self.workers: dict = {}

    def register_message(self, msg_type, listener, concurrent=False):
        self.custom_messages[msg_type] = (listener, concurrent)

    def send_message(self, msg_type, data=None, client_id=None):
        worker = self.workers[client_id]
        listener, concurrent = worker.custom_messages[msg_type]
        msg = SimpleNamespace(type=msg_type, data=data, node_id=client_id)
        if concurrent:
            threading.Thread(target=listener, kwargs={"environment": worker.environment, "msg": msg}).start()
        else:
            listener(environment=worker.environment, msg=msg)


class WorkerRunner:
    def __init__(self, master: MasterRunner, client_id: str, run_dir: Path) -> None:
        self.master, self.client_id = master, client_id
        self.custom_messages: dict = {}
        self.stopped = 0
        opts = SimpleNamespace(agentsoak_run_dir=str(run_dir), agentsoak_profile=None, agentsoak_ui=False,
                               agentsoak_ledger_role=f"locust-{client_id}")
        self.environment = SimpleNamespace(runner=self, parsed_options=opts)
        master.clients[client_id] = SimpleNamespace(id=client_id, state="running")
        master.workers[client_id] = self

    def register_message(self, msg_type, listener, concurrent=False):
        self.custom_messages[msg_type] = (listener, concurrent)

    def stop(self):
        self.stopped += 1

    def send_message(self, msg_type, data=None, client_id=None):
        listener = self.master.custom_messages[msg_type][0]
        listener(environment=self.master.environment,
                 msg=SimpleNamespace(type=msg_type, data=data, node_id=self.client_id))


def _worker(master, name, run_dir, events=3):
    worker = WorkerRunner(master, name, run_dir)
    ledger_collect.install(worker.environment)
    sink = state_for(worker.environment).sink
    for _ in range(events):
        sink(ev.TestStart(users=1))
    return worker, Path(sink.path)


def test_each_workers_ledger_is_copied_once_and_reads_with_the_masters(tmp_path):
    master = MasterRunner()
    ledger_collect.install(master.environment)
    ledger_collect.CHUNK = 64  # several parts per file
    run = tmp_path / "run" / "ledger"
    run.mkdir(parents=True)
    workers = [_worker(master, f"w{i}", tmp_path / f"w{i}", events=20 + i) for i in (1, 2)]
    in_place, _ = _worker(master, "w3", tmp_path / "run", events=5)  # shares the master's directory
    try:
        result = ledger_collect.collect(master.environment, run, timeout_s=10)
        assert result.outcome == {"w1": "copied", "w2": "copied", "w3": "in place"} and not result.missing
        for worker, path in workers:
            assert worker.stopped == 1  # its users stop before its file is closed and sent
            assert (run / path.name).read_bytes() == path.read_bytes()
        assert sum(1 for e in iter_ledger(run.parent) if e.kind == "test_start") == 21 + 22 + 5
        # asked again, a file already there by that name is kept, not read twice
        for w in ("w1", "w2"):
            master.clients[w].state = "running"
        again = ledger_collect.collect(master.environment, run, timeout_s=10)
        assert again.outcome["w1"] == again.outcome["w2"] == "kept"
    finally:
        for worker, _ in [*workers, (in_place, None)]:
            release(worker.environment)
        ledger_collect.CHUNK = 512 * 1024


def test_a_worker_the_master_counts_missing_is_not_waited_for(tmp_path):
    master = MasterRunner()
    ledger_collect.install(master.environment)
    (tmp_path / "run" / "ledger").mkdir(parents=True)
    worker, _ = _worker(master, "w1", tmp_path / "w1")
    try:
        master.clients["w1"].state = "missing"
        assert ledger_collect.collect(master.environment, tmp_path / "run" / "ledger", timeout_s=30).outcome == {}
        assert worker.stopped == 0
    finally:
        release(worker.environment)
