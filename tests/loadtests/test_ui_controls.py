"""loadtests.ui.controls: the Faults tab's actions are checked like a profile's fault entry and recorded
in the ledger as manual faults, exactly like scheduled ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from faults.schedule import FaultSchedule
from loadtests.profile import ProfileError
from loadtests.profile.faults import read_fault_entry
from loadtests.sink import MemorySink
from loadtests.ui.controls import ControlError, FaultControls
from reports.ledger import schema as ev


class FakeToxics:
    def __init__(self) -> None:
        self.live: dict[str, dict[str, Any]] = {}

    def add_toxic(self, proxy: str, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, attributes: Any = None) -> dict[str, Any]:
        assert name
        self.live[name] = {"name": name, "type": type, "stream": stream, "toxicity": toxicity,
                           "attributes": dict(attributes or {})}
        return self.live[name]

    def remove_toxic(self, proxy: str, name: str) -> None:
        del self.live[name]

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return {"enabled": enabled}

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self.live.values())

    def proxies(self) -> dict[str, Any]:
        return {"agentsoak": {"listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "enabled": True,
                              "toxics": self.toxics("agentsoak")}}


class FakeAdmin:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def close(self, code: int, share: float = 1.0) -> dict[str, Any]:
        self.calls.append(("close", code, share))
        return {"affected": 7}


@pytest.fixture
def setup() -> tuple[FaultControls, FakeToxics, FakeAdmin, MemorySink]:
    toxics, admin, sink = FakeToxics(), FakeAdmin(), MemorySink()
    controls = FaultControls(proxy_kind="embedded", target_kind="embedded", toxics=toxics, admin=admin,
                             proxy_name="agentsoak")
    controls.schedule = FaultSchedule((), toxics=toxics, admin=admin, proxy_name="agentsoak", sink=sink)
    controls.schedule.t0 = 0.0
    return controls, toxics, admin, sink


def test_bad_input_gets_the_profile_loaders_error(setup) -> None:
    controls, *_ = setup
    entry = {"kind": "toxic", "type": "latency", "attributes": {"latency": -5}}
    with pytest.raises(ProfileError) as loader:
        read_fault_entry(entry, proxy_kind="embedded", target_kind="embedded")
    with pytest.raises(ControlError) as form:
        controls.apply(entry)
    assert str(form.value) == str(loader.value)
    assert "attributes.latency" in str(form.value) and form.value.status == 400
    with pytest.raises(ControlError, match="did you mean 'latency'"):
        controls.apply({"kind": "toxic", "type": "latncy"})


def test_a_toxic_added_and_removed_by_hand_is_recorded_as_manual(setup) -> None:
    controls, toxics, _admin, sink = setup
    out = controls.apply({"kind": "toxic", "type": "latency", "attributes": {"latency": 100}})
    assert out["ok"] and out["toxic"] in toxics.live
    assert controls.describe()["proxies"][0]["toxics"][0]["name"] == out["toxic"]
    controls.remove_toxic(out["toxic"])
    assert not toxics.live
    apply, = sink.of(ev.FaultApply)
    remove, = sink.of(ev.FaultRemove)
    assert apply.manual and remove.manual and apply.fault == remove.fault == out["fault"]
    assert apply.type == "latency" and apply.attributes["latency"] == 100


def test_drop_all_by_server_close_is_an_instant_manual_fault(setup) -> None:
    controls, _toxics, admin, sink = setup
    controls.drop_all("close", 1006)
    assert admin.calls == [("close", 1006, 1.0)]
    assert [e.kind for e in sink.events] == ["fault_apply", "fault_remove"]
    assert all(e.manual for e in sink.events) and sink.events[0].affected == 7
    with pytest.raises(ControlError, match="code"):
        controls.drop_all("close", 4999)


def test_a_toxic_not_ours_is_removed_by_name_and_unknown_ones_are_404(setup) -> None:
    controls, toxics, _admin, sink = setup
    toxics.add_toxic("agentsoak", "bandwidth", name="by-curl", attributes={"rate": 10})
    controls.remove_toxic("by-curl")
    assert sink.of(ev.FaultRemove, fault="by-curl", manual=True)
    with pytest.raises(ControlError) as err:
        controls.remove_toxic("nope")
    assert err.value.status == 404


def test_nothing_is_done_without_a_running_swarm(setup) -> None:
    controls, *_ = setup
    controls.schedule = None
    with pytest.raises(ControlError) as err:
        controls.apply({"kind": "wipe_store"})
    assert err.value.status == 409


def test_docs_faults_md_documents_the_manual_mark_with_the_ids_the_tab_gives(setup) -> None:
    """docs/faults.md says how a fault added by hand is recorded and shown, with the ids this module makes."""
    controls, *_ = setup
    drop = controls.drop_all("close", 1006)["fault"]
    unnamed = controls.apply({"kind": "toxic", "type": "latency", "attributes": {"latency": 10}})["fault"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "faults.md").read_text()
    section = doc.split("## Faults added by hand", 1)[1].split("\n## ", 1)[0]
    assert "`manual: true`" in section
    for word in ("fault_apply", "fault_remove", "fault_error", "report", "repro bundle", "(manual)",
                 "profile.yaml", "faults.applied", ".p2"):
        assert word in section, word
    assert re.sub(r"\d+$", "3", drop) == "drop-all#m3" and f"`{re.sub(r'[0-9]+$', '3', drop)}`" in section
    assert re.sub(r"\d+$", "4", unnamed) == "manual-latency#m4" and "`manual-latency#m4`" in section


def test_the_timeline_stopped_and_started_by_hand_is_recorded_as_manual() -> None:
    """The Faults tab's timeline buttons: the stop is in the ledger (timeline_stop, manual) before its
    active faults are removed, and the restart (timeline_start, manual) carries the replay's offset."""
    from loadtests.catalog import load_profile_arg
    from loadtests.run_state import RunState
    from loadtests.timeline import switch_timeline, timeline_windows

    profile = load_profile_arg("smoke", [])
    assert not isinstance(profile, str)
    toxics, admin, sink = FakeToxics(), FakeAdmin(), MemorySink()
    state = RunState(sink=sink, profile=profile, test_start_mono=1000.0)
    clock = iter([1012.0, 1030.0])

    def play(now: float) -> None:
        windows, t0 = timeline_windows(state, now)
        state.schedule = FaultSchedule(windows, toxics=toxics, admin=admin, proxy_name="agentsoak", sink=sink)
        state.schedule.t0 = t0  # not started: the test plays no window

    play(1000.0)
    controls = FaultControls(proxy_kind="embedded", target_kind="embedded", toxics=toxics, admin=admin,
                             proxy_name="agentsoak",
                             timeline=lambda start: switch_timeline(state, start, play, clock=lambda: next(clock)))
    controls.schedule = FaultSchedule((), toxics=toxics, admin=admin, proxy_name="agentsoak", sink=sink)
    assert controls.timeline(False) == {"timeline": False}
    assert controls.timeline(False) == {"timeline": False}  # stopping again records nothing
    assert controls.timeline(True) == {"timeline": True}
    marks = [e for e in sink.events if isinstance(e, ev.TimelineStop | ev.TimelineStart)]
    assert [(type(e).__name__, e.play, e.at_s, e.manual) for e in marks] == [
        ("TimelineStop", 1, 12.0, True), ("TimelineStart", 2, 30.0, True)]
    assert state.schedule is not None and state.schedule.windows[0].fault.endswith(".p2")
    assert state.schedule.windows[0].start_s == profile.plan()[0].start_s + 30.0
