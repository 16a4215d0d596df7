"""The SQLite store of a multi-worker server: the in-process LRU's semantics, seen by every process."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from loadtests.server.shared_store import SharedStore
from loadtests.server.store import ContextEntry, ResponseStore


def _entry(n: int) -> ContextEntry:
    return ContextEntry(f"resp_{n}", f"d{n}", n)


@pytest.fixture(params=["memory", "shared"])
def make_store(request, tmp_path):
    def make(capacity: int):
        if request.param == "memory":
            return ResponseStore(capacity)
        path = tmp_path / "store.sqlite"
        SharedStore.create(path)
        return SharedStore(path, capacity)

    return make


def test_both_stores_are_the_same_lru(make_store):
    store = make_store(3)
    for n in (1, 2, 3):
        store.put(_entry(n))
    assert store.get("resp_1") == _entry(1)  # a hit makes 1 the youngest
    store.put(_entry(4))  # evicts 2, the least recently used
    assert store.get("resp_2") is None and len(store) == 3
    assert [store.get(f"resp_{n}") for n in (1, 3, 4)] == [_entry(1), _entry(3), _entry(4)]
    store.put(ContextEntry("resp_4", "d4b", 44))  # a re-put replaces, not adds
    assert store.get("resp_4") == ContextEntry("resp_4", "d4b", 44) and len(store) == 3
    assert store.clear() == 3 and len(store) == 0 and store.get("resp_1") is None


def test_a_zero_capacity_store_keeps_nothing(make_store):
    store = make_store(0)
    store.put(_entry(1))
    assert store.get("resp_1") is None and len(store) == 0


def _put_from_child(path: str, n: int) -> None:
    SharedStore(path, 100).put(_entry(n))


def test_an_entry_put_by_another_process_is_seen_here_and_a_wipe_is_seen_everywhere(tmp_path):
    path = str(tmp_path / "store.sqlite")
    SharedStore.create(path)
    mine = SharedStore(path, 100)
    child = mp.get_context("spawn").Process(target=_put_from_child, args=(path, 7))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert mine.get("resp_7") == _entry(7) and len(mine) == 1
    other = SharedStore(path, 100)
    assert other.clear() == 1
    assert mine.get("resp_7") is None
