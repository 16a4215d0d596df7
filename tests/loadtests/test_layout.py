"""The process layout planner: what fits, what ``auto`` chooses, and what is refused with the numbers."""

from __future__ import annotations

import resource

import pytest
import yaml

from loadtests.layout import (
    FD_OVERHEAD,
    LayoutError,
    LayoutRequest,
    Machine,
    plan_layout,
    raise_fd_limit,
    resolve_layout,
    share,
)
from loadtests.profile import parse_profile

BOX = Machine(fd_limit=20_000, ports=28_232, cpus=2)  # the machine


def counts(layout):
    return {c.name: c.processes for c in layout.components}


def test_the_defaults_fit_a_small_run():
    layout = plan_layout(LayoutRequest(agents=200), BOX)
    assert counts(layout) == {"locust": 1, "proxy": 1, "server": 1}
    assert layout.component("proxy").fds_per_process == 2 * 200 + FD_OVERHEAD
    assert layout.ports_per_destination == 200 and layout.source_addresses == 1
    assert layout.summary().startswith("layout 200 agents: locust 1, proxy 1, server 1, source addresses 1;")


def test_auto_chooses_for_ten_thousand_agents():
    req = LayoutRequest(agents=10_000, processes=None, proxy_workers=None, server_workers=None,
                        source_addresses=None)
    layout = plan_layout(req, BOX)
    assert counts(layout) == {"locust": 2, "proxy": 2, "server": 1}
    assert layout.source_addresses == 1
    for comp in layout.components:
        assert comp.auto and comp.fds_per_process <= 0.8 * BOX.fd_limit
    assert any(r.startswith("proxy 2:") for r in layout.reasons)
    assert "locust 2 (auto), proxy 2 (auto), server 1 (auto)" in layout.summary()


def test_auto_source_addresses_go_past_one_port_range():
    layout = plan_layout(LayoutRequest(agents=50_000, proxy="none", processes=None, server_workers=None,
                                       source_addresses=None), BOX)
    assert layout.source_addresses == 3  # 16,667 per address, under 80% of 28,232
    assert layout.ports_per_destination == 16_667
    assert counts(layout)["locust"] >= 4 and counts(layout)["server"] >= 4


def test_explicit_values_win_when_they_fit():
    layout = plan_layout(LayoutRequest(agents=1000, processes=3, proxy_workers=4, server_workers=2), BOX)
    assert counts(layout) == {"locust": 3, "proxy": 4, "server": 2}
    assert not any(c.auto for c in layout.components)
    assert plan_layout(LayoutRequest(agents=10, processes=-1), BOX).component("locust").processes == BOX.cpus


def test_one_proxy_worker_for_ten_thousand_agents_is_refused_with_the_numbers():
    with pytest.raises(LayoutError) as err:
        plan_layout(LayoutRequest(agents=10_000), BOX)
    assert err.value.path == "proxy.workers"
    assert "need 20,256 FDs" in str(err.value) and "limit of 20,000" in str(err.value)
    assert str(err.value).endswith("set proxy.workers >= 2 (or auto)")


def test_a_locust_process_over_the_limit_is_refused():
    with pytest.raises(LayoutError) as err:
        plan_layout(LayoutRequest(agents=25_000, proxy="none", server=False, source_addresses=2), BOX)
    assert err.value.path == "load.processes" and "25,256 FDs" in str(err.value)
    assert "set load.processes >= 2 (or auto)" in str(err.value)


def test_locust_on_remote_workers_is_not_counted():
    layout = plan_layout(LayoutRequest(agents=25_000, proxy="none", server=False, source_addresses=2,
                                       locust_here=False), BOX)
    assert layout.components == ()


def test_more_agents_than_ports_from_one_address_is_refused():
    with pytest.raises(LayoutError) as err:
        plan_layout(LayoutRequest(agents=30_000, proxy="none", processes=2, server_workers=2), BOX)
    assert err.value.path == "load.source_addresses"
    assert "30,000 ports per destination, above the 28,232" in str(err.value)
    assert "set load.source_addresses >= 2" in str(err.value)


def test_the_proxy_to_target_hop_is_one_address_whatever_the_workers():
    with pytest.raises(LayoutError) as err:
        plan_layout(LayoutRequest(agents=30_000, processes=None, proxy_workers=None, server_workers=None,
                                  source_addresses=None), BOX)
    assert err.value.path == "proxy.kind" and "above the 28,232 ephemeral ports" in str(err.value)


def test_a_real_toxiproxy_is_one_process():
    with pytest.raises(LayoutError) as err:
        plan_layout(LayoutRequest(agents=10_000, proxy="real", proxy_workers=8), BOX)
    assert "set proxy.kind embedded with proxy.workers >= 2" in str(err.value)


def test_the_kernel_spread_gets_a_margin():
    assert share(10_000, 1, spread=True) == 10_000
    assert share(10_000, 2, spread=False) == 5_000
    assert 5_000 < share(10_000, 2, spread=True) <= 5_200


def test_resolve_sets_the_auto_fields_of_a_profile():
    profile = parse_profile("load: {users: 10000, processes: auto, source_addresses: auto}\n"
                            "proxy: {workers: auto}\ntarget: {server: {workers: auto}}\n")
    assert profile.auto == {"load.processes", "load.source_addresses", "proxy.workers", "target.server.workers"}
    assert profile.to_dict()["proxy"]["workers"] == "auto"  # loadable again
    assert parse_profile(yaml.safe_dump(profile.to_dict())).auto == profile.auto
    resolved, layout = resolve_layout(profile, BOX)
    assert resolved.auto == frozenset()
    assert (resolved.load.processes, resolved.proxy.workers, resolved.target.server.workers,
            resolved.load.source_addresses) == (2, 2, 1, 1)
    assert resolved.to_dict()["proxy"]["workers"] == 2


def test_a_refusal_names_the_profile_file():
    profile = parse_profile("load: {users: 10000}\n")
    with pytest.raises(LayoutError, match=r"^profiles/big.yaml: proxy.workers: "):
        resolve_layout(profile, BOX, source="profiles/big.yaml")


def test_auto_server_workers_need_an_embedded_target():
    with pytest.raises(Exception, match="only for target.kind embedded"):
        parse_profile("target: {kind: external, url: 'ws://127.0.0.1:1', server: {workers: auto}}\n")


def test_this_machine_is_read_and_the_soft_limit_raised():
    machine = Machine.detect()
    assert machine.fd_limit >= 1 and machine.ports >= 1 and machine.cpus >= 1
    soft = raise_fd_limit()
    assert soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft == machine.fd_limit or resource.getrlimit(resource.RLIMIT_NOFILE)[1] == resource.RLIM_INFINITY
