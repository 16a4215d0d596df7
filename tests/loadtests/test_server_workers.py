"""``agentsoak serve --workers 2``: one port, two processes, one store; caches stay per connection,
and the admin API acts on every worker."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from loadtests.server.app import WORKER_HEADER
from tests.loadtests.conftest import ServerProcess, connect, run_turn

CONNECT_TRIES = 64  # the kernel hashes each connect to a worker: two pids come within a few


def _admin(server: ServerProcess, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.http_url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _one_per_worker(server: ServerProcess, extra: int = 0) -> tuple[dict[str, Any], list[Any]]:
    """Connect until two pids answered: ``{pid: ws}`` (one socket each) and the spare sockets."""
    by_pid: dict[str, Any] = {}
    spare: list[Any] = []
    for _ in range(CONNECT_TRIES):
        ws = connect(server, headers=[f"X-Agentsoak-Conn: agent-{len(by_pid) + len(spare) + 1:04d}/c1"])
        pid = ws.getheaders().get(WORKER_HEADER.lower())
        assert pid and pid.isdigit()
        if pid not in by_pid:
            by_pid[pid] = ws
        else:
            spare.append(ws)
        if len(by_pid) == 2 and len(spare) >= extra:
            return by_pid, spare
    raise AssertionError(f"{CONNECT_TRIES} connects reached only the workers {sorted(by_pid)}")


def _final(events: list[dict[str, Any]]) -> dict[str, Any]:
    return events[-1]


@pytest.fixture
def two_workers(reference_server) -> ServerProcess:
    return reference_server(workers=2, seed=5, tokens_per_s=100000, hydrate_delay_ms=0)


def test_a_stored_response_hydrates_on_the_other_worker_and_the_cache_stays_local(two_workers):
    by_pid, spare = _one_per_worker(two_workers, extra=4)
    (pid_a, a), (pid_b, b) = by_pid.items()
    try:
        stored = _final(run_turn(a, store=True))
        assert stored["type"] == "response.completed"
        rid = stored["response"]["id"]
        # worker B never saw rid: it hydrates from the shared store (no cache: cached_tokens 0)
        hydrated = _final(run_turn(b, store=True, previous_response_id=rid, input="next"))
        assert hydrated["type"] == "response.completed", hydrated
        assert hydrated["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 0

        # store=false lives in A's connection cache only: A continues it, B (and A's neighbour) cannot
        local = _final(run_turn(a, store=False, input="private"))
        lid = local["response"]["id"]
        hit = _final(run_turn(a, store=False, previous_response_id=lid, input="more"))
        assert hit["type"] == "response.completed"
        assert hit["response"]["usage"]["input_tokens_details"]["cached_tokens"] > 0
        for other in (b, spare[0]):
            miss = _final(run_turn(other, store=False, previous_response_id=hit["response"]["id"], input="x"))
            assert miss["type"] == "error" and miss["error"]["code"] == "previous_response_not_found", miss
    finally:
        for ws in [*by_pid.values(), *spare]:
            ws.close()


def test_the_admin_api_acts_on_every_worker(two_workers):
    by_pid, spare = _one_per_worker(two_workers, extra=2)
    sockets = [*by_pid.values(), *spare]
    try:
        stats = _admin(two_workers, "GET", "/admin/stats")
        assert stats["connections"] == len(sockets)
        assert {str(w["pid"]) for w in stats["workers"]} == set(by_pid)
        assert sum(w["connections"] for w in stats["workers"]) == len(sockets)

        rid = _final(run_turn(by_pid[next(iter(by_pid))], store=True))["response"]["id"]
        assert _admin(two_workers, "GET", "/admin/stats")["store_size"] == 1  # shared: not counted twice
        evicted = _admin(two_workers, "POST", "/admin/evict", {})
        assert evicted["affected"] == len(sockets) and len(evicted["clients"]) == len(sockets)

        assert _admin(two_workers, "POST", "/admin/wipe_store", {})["affected"] == 1
        for ws in by_pid.values():  # gone for both workers
            miss = _final(run_turn(ws, store=True, previous_response_id=rid, input="again"))
            assert miss["type"] == "error" and miss["error"]["code"] == "previous_response_not_found"

        assert _admin(two_workers, "POST", "/admin/refuse", {"status": 429, "retry_after_s": 1})["active"]
        refused = 0
        for _ in range(8):  # every new upgrade is refused, whichever worker takes it
            try:
                connect(two_workers).close()
            except Exception as exc:  # noqa: BLE001 - websocket-client's bad-status error
                refused += "429" in str(exc)
        assert refused == 8
        assert _admin(two_workers, "GET", "/admin/stats")["faults"].get("refuse")
        _admin(two_workers, "POST", "/admin/reset", {})
        connect(two_workers).close()

        closed = _admin(two_workers, "POST", "/admin/close", {"code": 1001})
        assert closed["affected"] == len(sockets)
    finally:
        for ws in sockets:
            ws.close()


def test_connection_ids_are_unique_across_workers(two_workers):
    by_pid, spare = _one_per_worker(two_workers, extra=6)
    sockets = [*by_pid.values(), *spare]
    try:
        for ws in sockets:
            assert _final(run_turn(ws, store=False))["type"] == "response.completed"
        log_ids = [line.split()[4] for line in two_workers.log_text().splitlines() if " open peer=" in line]
        assert len(log_ids) == len(set(log_ids)) >= len(sockets), log_ids
    finally:
        for ws in sockets:
            ws.close()


def test_the_profile_sets_the_workers_and_the_orchestrator_passes_them():
    from loadtests.profile import parse_profile
    from loadtests.run import server_args

    assert parse_profile("").target.server.workers == 1
    p = parse_profile("target: {kind: embedded, server: {workers: 3}}\n")
    assert p.target.server.workers == 3
    args = server_args(p)
    assert args[args.index("--workers") + 1] == "3"
    assert "--workers" in server_args(parse_profile("")) and server_args(parse_profile(""))[
        server_args(parse_profile("")).index("--workers") + 1] == "1"


def test_a_killed_servers_store_is_swept_by_the_next_one(reference_server):
    import glob
    import os
    import re as _re

    first = reference_server(workers=2)
    found = _re.search(r"store (\S+)/store\.sqlite", first.log_text())
    assert found, first.log_text()
    store_dir = found.group(1)
    assert os.path.isdir(store_dir)
    first.kill()  # SIGKILL: the workers go with it, nobody removes the store
    assert os.path.isdir(store_dir)
    reference_server(workers=2)
    assert not os.path.exists(store_dir), glob.glob(os.path.dirname(store_dir) + "/agentsoak-store-*")
