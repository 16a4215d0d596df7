"""Per-connection draws: a pure function of the connection's identity; ordinals shared by processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from faults.draws import ConnectionKey, LocalOrdinals, SharedOrdinals


def test_a_draw_depends_only_on_seed_proxy_ordinal_direction_and_toxic():
    key = ConnectionKey(7, "agents", 3)
    assert key.draw("downstream", "slow") == ConnectionKey(7, "agents", 3).draw("downstream", "slow")
    others = [ConnectionKey(8, "agents", 3), ConnectionKey(7, "other", 3), ConnectionKey(7, "agents", 4)]
    assert all(k.draw("downstream", "slow") != key.draw("downstream", "slow") for k in others)
    assert key.draw("upstream", "slow") != key.draw("downstream", "slow") != key.draw("downstream", "fast")
    draws = [ConnectionKey(7, "agents", i).draw("downstream", "slow") for i in range(2000)]
    assert all(0 <= u < 1 for u in draws) and 0.45 < sum(u < 0.5 for u in draws) / 2000 < 0.55
    assert key.rng("upstream").random() == ConnectionKey(7, "agents", 3).rng("upstream").random()


def test_without_a_seed_draws_are_fresh():
    key = ConnectionKey(None, "agents", 0)
    assert len({key.draw("downstream", "t") for _ in range(10)}) == 10


def test_local_ordinals_count_per_slot():
    o = LocalOrdinals()
    assert [o.next(0), o.next(0), o.next(1), o.next(0)] == [0, 1, 0, 2]


def test_shared_ordinals_are_one_counter_across_processes():
    with tempfile.TemporaryFile() as fh:
        fd = fh.fileno()
        code = ("import sys; from faults.draws import SharedOrdinals; o = SharedOrdinals(int(sys.argv[1]));"
                "[o.next(1) for _ in range(200)]")
        procs = [subprocess.Popen([sys.executable, "-c", code, str(fd)], pass_fds=[fd]) for _ in range(3)]
        assert [p.wait(30) for p in procs] == [0, 0, 0]
        shared = SharedOrdinals(fd)
        assert shared.next(1) == 600  # no increment lost to a race
        assert shared.next(0) == 0 and os.fstat(fd).st_size == 16
