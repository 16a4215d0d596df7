"""Agent identity and randomness: global ids, per-purpose streams, indices handed out by the master."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

from loadtests import agent_index
from loadtests.agent_random import AgentRandom, Purpose, stream_for

# Run in a fresh interpreter (``import locust`` patches the process for gevent; never in pytest's).
_PROBE = """
import json, sys
from types import SimpleNamespace
from locust.env import Environment
from loadtests.users import CodingAgentUser
env = Environment(user_classes=[CodingAgentUser], parsed_options=SimpleNamespace(seed=int(sys.argv[1])))
out = []
for _ in range(3):
    user = CodingAgentUser(env)
    user.claim_index()
    out.append({"id": user.agent_id, "think": [user.think() for _ in range(2)], "text": user._text(),
                "hints": [user._hints(last=False) for _ in range(3)]})
print(json.dumps(out))
"""


def _users(seed: int, hash_seed: str) -> list[dict]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(seed)], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_agents_are_named_by_global_index_and_draw_the_same_in_any_process():
    """Two processes (different pids, different str hashing): the same ids agent-0001.. and the same draws."""
    first, second = _users(11, "1"), _users(11, "2")
    assert [u["id"] for u in first] == ["agent-0001", "agent-0002", "agent-0003"]
    assert first == second
    assert first[0]["hints"] != first[1]["hints"]  # different agents draw differently
    assert _users(12, "1")[0] != first[0]  # and a different seed changes them


def test_streams_are_independent_per_purpose():
    """Drawing more for one purpose never shifts another purpose's stream."""
    a, b = AgentRandom(5, 7), AgentRandom(5, 7)
    for _ in range(100):
        a(Purpose.THINK).random()
    assert [a(Purpose.INPUT_SIZE).random() for _ in range(5)] == [b(Purpose.INPUT_SIZE).random() for _ in range(5)]
    assert a(Purpose.THINK).random() != a(Purpose.THINK).random()  # each call is the purpose's next draw
    assert stream_for(5, 7, Purpose.THINK, 3).random() != stream_for(5, 7, Purpose.THINK, 4).random()
    assert stream_for(5, 7, Purpose.RECONNECT).random() != stream_for(5, 8, Purpose.RECONNECT).random()
    assert stream_for(5, 7, Purpose.RECONNECT).random() != stream_for(5, 7, Purpose.STREAM_RETRY).random()
    assert stream_for(5, 7, Purpose.RECONNECT).random() == stream_for(5, 7, Purpose.RECONNECT).random()


def test_agent_name_pads_to_four_digits_and_widens():
    assert [agent_index.agent_name(i) for i in (1, 42, 9999, 10000)] == [
        "agent-0001", "agent-0042", "agent-9999", "agent-10000"]


# -- the master hands indices out over Locust's custom messages (fake runners, real threads) ---------------

class MasterRunner:
    """Enough of Locust's MasterRunner for the index messages: delivers to the worker named by client_id."""

    def __init__(self) -> None:
        self.custom_messages: dict = {}
        self.workers: dict[str, WorkerRunner] = {}
        self.environment = SimpleNamespace(runner=self)

    def register_message(self, msg_type, listener, concurrent=False):
        assert msg_type not in self.custom_messages
        self.custom_messages[msg_type] = (listener, concurrent)

    def send_message(self, msg_type, data=None, client_id=None):
        worker = self.workers[client_id]
        listener = worker.custom_messages[msg_type][0]
        threading.Thread(target=listener, kwargs={"environment": worker.environment,
                                                 "msg": SimpleNamespace(type=msg_type, data=data,
                                                                        node_id=client_id)}).start()


class WorkerRunner:
    def __init__(self, master: MasterRunner, client_id: str) -> None:
        self.custom_messages: dict = {}
        self.master, self.client_id = master, client_id
        master.workers[client_id] = self
        self.environment = SimpleNamespace(runner=self)

    register_message = MasterRunner.register_message

    def send_message(self, msg_type, data=None, client_id=None):
        listener = self.master.custom_messages[msg_type][0]
        listener(environment=self.master.environment,
                 msg=SimpleNamespace(type=msg_type, data=data, node_id=self.client_id))


def test_master_hands_out_each_index_once_across_workers():
    """Two workers, five users each, asking at once: indices 1..10, each exactly once."""
    master = MasterRunner()
    workers = [WorkerRunner(master, f"host_{n}") for n in range(2)]
    agent_index.install(master.environment)
    for w in workers:
        agent_index.install(w.environment)
    got: list[int] = []
    lock = threading.Lock()

    def take(env) -> None:
        index = agent_index.next_index(env)
        with lock:
            got.append(index)

    threads = [threading.Thread(target=take, args=(w.environment,)) for w in workers for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == list(range(1, 11))


def test_the_master_refuses_indices_past_a_headless_runs_agent_count_and_names_the_worker():
    """A re-dispatch (Locust starts users beyond -u on another worker): those get None, not index 4+."""
    master = MasterRunner()
    master.environment.parsed_options = SimpleNamespace(headless=True, num_users=3, agentsoak_ui=False)
    workers = [WorkerRunner(master, f"host_{n}") for n in range(2)]
    refused: list[tuple[int, int, str | None]] = []
    agent_index.install(master.environment, on_refuse=lambda *a: refused.append(a))
    for w in workers:
        agent_index.install(w.environment)
    got = [agent_index.next_index(workers[n % 2].environment) for n in range(5)]
    assert got == [1, 2, 3, None, None]
    assert refused == [(4, 3, "host_1"), (5, 3, "host_0")]


def test_the_web_ui_and_a_runner_without_options_have_no_agent_limit():
    ui = SimpleNamespace(runner=None, parsed_options=SimpleNamespace(headless=False, num_users=2, agentsoak_ui=True))
    assert agent_index.limit_of(ui) is None
    assert [agent_index.next_index(ui) for _ in range(3)] == [1, 2, 3]
    headless = SimpleNamespace(runner=None, parsed_options=SimpleNamespace(headless=True, num_users=2))
    assert agent_index.limit_of(headless) == 2
    assert [agent_index.next_index(headless) for _ in range(3)] == [1, 2, None]


def test_a_new_environment_counts_from_1_even_where_a_freed_one_lived():
    """Python reuses a freed object's id; a counter keyed by id() would continue the old count."""
    firsts = []
    for _ in range(50):
        env = SimpleNamespace(runner=None)
        firsts.append(agent_index.next_index(env))
        agent_index.next_index(env)
        del env
    assert firsts == [1] * 50


def test_a_local_runner_counts_in_its_own_process():
    env = SimpleNamespace(runner=None)
    assert [agent_index.next_index(env) for _ in range(3)] == [1, 2, 3]


_SUBSET_PROBE = """
import json, sys
from types import SimpleNamespace
from locust.env import Environment
from loadtests.users import CodingAgentUser
CodingAgentUser.agent_indices = (7, 12)
env = Environment(user_classes=[CodingAgentUser], parsed_options=SimpleNamespace(seed=11))
out = []
for _ in range(3):
    user = CodingAgentUser(env)
    user.claim_index()
    out.append({"id": user.agent_id, "think": [user.think() for _ in range(2)], "text": user._text()})
print(json.dumps(out))
"""


def test_a_run_of_some_agents_gives_them_their_own_ids_and_draws():
    """load.agents [7, 12]: the first two users are agents 7 and 12, drawing what agents 7 and 12 draw
    in a run of all of them; a user past the list goes on above the highest listed index."""
    done = subprocess.run([sys.executable, "-c", _SUBSET_PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    subset = json.loads(done.stdout.strip().splitlines()[-1])
    assert [u["id"] for u in subset] == ["agent-0007", "agent-0012", "agent-0013"]
    everyone = subprocess.run([sys.executable, "-c", _SUBSET_PROBE.replace("(7, 12)", "None").replace(
        "range(3)", "range(12)")], capture_output=True, text=True, timeout=60)
    assert everyone.returncode == 0, everyone.stderr
    full = {u["id"]: u for u in json.loads(everyone.stdout.strip().splitlines()[-1])}
    assert subset[0] == full["agent-0007"] and subset[1] == full["agent-0012"]


def test_spawn_offsets_follow_locust_s_dispatch_batches():
    """Locust adds floor(rate) users per iteration, floor(rate)/rate s apart (locust/dispatch.py)."""
    offsets = [agent_index.spawn_offset_s(i, 50) for i in (1, 50, 51, 100, 101)]
    assert offsets == [0.0, 0.0, 1.0, 1.0, 2.0]
    assert [agent_index.spawn_offset_s(i, 2.5) for i in (1, 2, 3, 5)] == [0.0, 0.0, 0.8, 1.6]
    assert [agent_index.spawn_offset_s(i, 0.5) for i in (1, 2, 3)] == [0.0, 2.0, 4.0]
    assert agent_index.index_of("agent-0012") == 12 and agent_index.index_of("agent-10000") == 10000
    assert agent_index.index_of("agent-x") is None and agent_index.index_of("c12") is None
