"""A worker takes its master's profile and clock (Locust's custom messages, between stand-in runners)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from loadtests import master_link


class MasterRunner:
    def __init__(self) -> None:
        self.environment = SimpleNamespace(runner=self)
        self.custom_messages: dict = {}
        self.workers: dict = {}

    def register_message(self, msg_type, listener, concurrent=False):
        self.custom_messages[msg_type] = (listener, concurrent)

    def send_message(self, msg_type, data=None, client_id=None):
        worker = self.workers[client_id]
        listener = worker.custom_messages[msg_type][0]
        msg = SimpleNamespace(type=msg_type, data=data, node_id=client_id)
        threading.Thread(target=listener, kwargs={"environment": worker.environment, "msg": msg}).start()


class WorkerRunner:
    def __init__(self, master, client_id: str) -> None:
        self.master, self.client_id = master, client_id
        self.custom_messages: dict = {}
        self.environment = SimpleNamespace(runner=self)
        master.workers[client_id] = self

    def register_message(self, msg_type, listener, concurrent=False):
        self.custom_messages[msg_type] = (listener, concurrent)

    def send_message(self, msg_type, data=None, client_id=None):
        listener = self.master.custom_messages[msg_type][0]
        listener(environment=self.master.environment,
                 msg=SimpleNamespace(type=msg_type, data=data, node_id=self.client_id))


def test_a_worker_on_the_same_boot_takes_the_profile_and_moves_no_clock():
    master = MasterRunner()
    master_link.install(master.environment, profile_text=lambda: "name: p\n")
    worker = WorkerRunner(master, "w1")
    link = master_link.fetch(worker.environment, want_profile=True)
    assert link.profile_yaml == "name: p\n" and link.clock_offset_s == 0.0
    assert master_link.fetch(worker.environment, want_profile=False).profile_yaml is None


def test_a_worker_on_another_boot_puts_its_clock_on_the_masters():
    master = MasterRunner()
    ahead = 1000.0

    def on_request(environment, msg, **_kw):  # a master on another machine: its own boot, its own clock
        time.sleep(0.002)
        master.send_message(master_link.REPLY, {"request": msg.data["request"], "mono": time.monotonic() + ahead,
                                                "boot": "another-boot", "profile": None}, client_id=msg.node_id)

    master.register_message(master_link.REQUEST, on_request)
    worker = WorkerRunner(master, "w1")
    link = master_link.fetch(worker.environment, want_profile=True)
    assert abs(link.clock_offset_s - ahead) <= link.round_trip_s / 2 + 0.001
    assert link.profile_yaml is None
