"""Profiles: loading, defaults, durations, overrides, line numbers, safety and the shipped files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faults.schedule import FaultSpec
from loadtests import profile as profile_mod
from loadtests.agent import ReconnectPolicy, TransportConfig
from loadtests.profile import (
    AgentConfig,
    Profile,
    ProfileError,
    ServerConfig,
    ThinkTime,
    load_profile,
    parse_profile,
)
from loadtests.profile.fields import format_duration, parse_duration_text
from loadtests.profile.target_server import server_table, server_to_dict
from loadtests.server.config import ServerConfig as ServerDefaults

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
SHIPPED = sorted(PROFILES.glob("*.yaml"))

FULL = """\
name: full
seed: 7
output_dir: out/runs
target:
  kind: embedded
  server:
    tokens_per_s: 4000
    tokens_per_delta: 4
    connection_lifetime_s: 30s
    limit_mode: hard
    limit_close_code: null
    output_tokens: {min: 5, max: 10}
proxy: {kind: url, url: "http://127.0.0.1:8474", workers: 2}
load: {users: 50, spawn_rate: 10, duration: 1h30m, processes: -1}
agent:
  turns_per_session: 3
  tool_call_ratio: 0.25
  think_time: {distribution: constant, value: 500ms}
  input_tokens: {min: 1, max: 2}
  store: false
  keepalive: {ping_interval: null, ping_timeout: 5s}
  idle_timeout: null
  rotate_after: 10m
  reconnect: {max_retries: 0, base_delay: 200ms, max_delay: 1s, jitter_min: 0.9, jitter_max: 1.1}
  recovery: {full_resend: false, retry_in_flight: false}
faults:
  - {name: slow-link, kind: toxic, type: latency, at: 15s, duration: 10s, every: 10m, share: 0.5,
     attributes: {latency: 100.0, jitter: 10}}
  - {type: bandwidth, stream: upstream, toxicity: 0.2, at: 1m, attributes: {rate: 100}}
  - {kind: close, code: 1013, at: 2m}
  - {kind: stall, where: first_event, stall: 3s, at: 3m, duration: 30s}
  - {kind: refuse, status: 429, at: 4m, duration: 10s}
  - {kind: down, at: 5m, duration: 5s}
checks: {max_lost_turns: 0, reconnect_p95_ms: 3000, recovery_max_s: 15.5}
"""


def test_full_profile_is_typed_and_normalised():
    p = parse_profile(FULL)
    assert p.name == "full" and p.seed == 7 and p.output_dir == "out/runs"
    assert p.target.server == ServerConfig(
        tokens_per_s=4000.0, tokens_per_delta=4, connection_lifetime_s=30.0, limit_mode="hard",
        limit_close_code=None, output_tokens_min=5, output_tokens_max=10,
    )  # fmt: skip
    assert (p.proxy.kind, p.proxy.url, p.proxy.workers) == ("url", "http://127.0.0.1:8474", 2)
    assert (p.load.users, p.load.spawn_rate, p.load.duration_s, p.load.processes) == (50, 10.0, 5400.0, -1)
    a = p.agent
    assert a.think_time == ThinkTime("constant", value=0.5, min=None, max=None)
    assert a.store is False and a.keepalive.ping_interval_s is None and a.keepalive.ping_timeout_s == 5.0
    assert a.idle_timeout_s is None and a.rotate_after_s == 600.0
    assert (a.reconnect.base_delay_s, a.reconnect.max_delay_s, a.reconnect.max_retries) == (0.2, 1.0, 0)
    assert a.recovery.full_resend is False
    assert p.faults[0] == FaultSpec(
        "slow-link", "toxic", at_s=15.0, duration_s=10.0, every_s=600.0, share=0.5, type="latency",
        attributes={"latency": 100, "jitter": 10},
    )  # fmt: skip
    assert isinstance(p.faults[0].attributes["latency"], int)
    assert p.faults[1].kind == "toxic" and p.faults[1].name == "toxic-1"  # bare toxic object: kind inferred
    assert p.faults[1].toxicity == 0.2 and p.faults[1].stream == "upstream"
    assert p.faults[2].code == 1013 and p.faults[2].name == "close-2"
    assert p.faults[3].ms == 3000 and p.faults[3].where == "first_event"
    assert p.faults[4].retry_after_s == 5.0  # 429 default
    assert p.checks == {"max_lost_turns": 0, "reconnect_p95_ms": 3000, "recovery_max_s": 15.5}


def test_empty_profile_gives_the_documented_defaults(tmp_path):
    path = tmp_path / "quiet.yaml"
    path.write_text("# nothing\n")
    p = load_profile(path)
    assert p == Profile(name="quiet")
    assert p.target.kind == "embedded" and p.target.server == ServerConfig()
    assert p.agent == AgentConfig()
    assert (p.load.users, p.load.duration_s, p.agent.rotate_after_s) == (200, 60.0, 3300.0)


def test_server_section_is_the_reference_servers_config_and_the_docs_table_is_generated():
    """``target.server`` is the server's own ServerConfig; docs/profiles.md shows the generated table."""
    assert ServerConfig is ServerDefaults and parse_profile("").target.server == ServerDefaults()
    doc = (PROFILES.parent / "docs" / "profiles.md").read_text()
    section = doc.split("### `target.server` (embedded only)\n", 1)[1]
    table = "| key |" + section.split("\n| key |", 1)[1].split("\n\n", 1)[0]
    assert table == server_table(), "regenerate the table with loadtests.profile.target_server.server_table()"
    documented = {}
    for row in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip("|"))]  # "\|" is a pipe in a cell
        if len(cells) == 4 and cells[0].startswith("`"):
            documented[cells[0].strip("`")] = yaml.safe_load(cells[2].strip("`"))
    assert documented == server_to_dict(ServerDefaults())
    assert documented["output_tokens"] == {"min": 20, "max": 120}


def test_agent_defaults_are_the_transports_and_the_docs_say_them():
    """Keepalive, timeouts, backoff and recovery defaults come from TransportConfig / ReconnectPolicy."""
    t, a = TransportConfig(url="ws://127.0.0.1:1"), AgentConfig()
    assert (a.keepalive.ping_interval_s, a.keepalive.ping_timeout_s) == (t.ping_interval, t.ping_timeout)
    assert (a.idle_timeout_s, a.rotate_after_s) == (t.idle_timeout, t.rotate_after) == (300.0, 3300.0)
    assert (a.recovery.full_resend, a.recovery.stream_retry()) == (t.full_resend, t.stream_retry)
    policy, r = ReconnectPolicy(), a.reconnect
    assert (r.max_retries, r.base_delay_s, r.max_delay_s, r.jitter_min, r.jitter_max, r.cooldown_s) == (
        policy.max_retries, policy.base_delay, policy.max_delay, policy.jitter_min, policy.jitter_max,
        policy.cooldown,
    )  # fmt: skip
    doc = (PROFILES.parent / "docs" / "profiles.md").read_text()
    table = doc.split("## `agent`", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for row in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip("|"))]
        if len(cells) == 4 and cells[0].startswith("`"):
            documented[cells[0].strip("`")] = cells[2].strip("`")
    resolved = parse_profile("").to_dict()["agent"]
    for key, text in documented.items():
        section, _, name = key.rpartition(".")
        value = resolved[section][name] if section else resolved[key]
        if isinstance(value, float) and not re.fullmatch(r"[\d.]+", text):
            value_text = parse_duration_text(text)
            assert value_text == value, (key, text, value)
        elif not isinstance(value, dict):
            assert yaml.safe_load(text) == value, (key, text, value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1m0.5s", 60.5), ("90", 90),
     ("1d", 86400)],
)  # fmt: skip
def test_duration_strings(text, seconds):
    assert parse_duration_text(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "30m1h", "1h1h", "s", "-5s", "1.s", "5 minutes"])
def test_bad_duration_strings(text):
    assert parse_duration_text(text) is None


def test_format_duration_reads_back():
    for seconds in (0.25, 1, 59.5, 61, 3600, 5400, 7261):
        assert parse_duration_text(format_duration(seconds)) == pytest.approx(seconds)


def test_overrides_set_any_field_before_validation(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(FULL)
    p = load_profile(
        path,
        ["load.users=5", "faults=[]", "agent.reconnect.max_retries=9", "agent.think_time={distribution: exponential, mean: 2s}",
         "name=renamed", "checks.recovery_max_s=12"],
    )  # fmt: skip
    assert p.load.users == 5 and p.faults == () and p.agent.reconnect.max_retries == 9
    assert p.agent.think_time.mean == 2.0 and p.name == "renamed" and p.checks["recovery_max_s"] == 12


def test_overrides_reach_list_items_and_create_missing_sections():
    p = parse_profile(FULL, overrides=["faults[2].code=1012", "faults[0].attributes.latency=5"])
    assert p.faults[2].code == 1012 and p.faults[0].attributes["latency"] == 5
    p = parse_profile("name: x\n", overrides=["agent.recovery.full_resend=false"])
    assert p.agent.recovery.full_resend is False


def test_override_errors_name_the_override_not_a_line():
    with pytest.raises(ProfileError) as info:
        parse_profile(FULL, source="profiles/full.yaml", overrides=["load.users=many"])
    e = info.value
    assert (e.file, e.line, e.path) == ("--set load.users", None, "load.users")
    assert str(e) == "--set load.users: load.users: got 'many'; expected an integer between 1 and 1000000"


def test_errors_carry_file_line_path_expected_and_suggestion():
    text = FULL.replace("reconnect: {max_retries: 0,", "reconnect: {max_retrys: 0,")
    with pytest.raises(ProfileError) as info:
        parse_profile(text, source="profiles/full.yaml")
    e = info.value
    assert e.file == "profiles/full.yaml" and e.line == 24 and e.path == "agent.reconnect.max_retrys"
    assert e.suggestion == "max_retries"
    assert e.expected == "one of base_delay, cooldown, jitter_max, jitter_min, max_delay, max_retries"
    assert str(e) == (
        "profiles/full.yaml:24: agent.reconnect.max_retrys: unknown key; expected one of base_delay, cooldown, "
        "jitter_max, jitter_min, max_delay, max_retries; did you mean 'max_retries'?"
    )


def test_list_item_paths_and_lines():
    text = FULL.replace("attributes: {latency: 100.0, jitter: 10}", "attributes: {latency: -1, jitter: 10}")
    with pytest.raises(ProfileError) as info:
        parse_profile(text, source="x.yaml")
    assert info.value.path == "faults[0].attributes.latency" and info.value.line == 28


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(ProfileError) as info:
        parse_profile("name: x\nload:\n  users: [1, 2\nagent: {}\n", source="bad.yaml")
    assert info.value.file == "bad.yaml" and info.value.line is not None and info.value.line >= 3
    assert "invalid YAML" in str(info.value)


def test_missing_file_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError) as info:
        load_profile(tmp_path / "nope.yaml")
    assert "cannot read the profile" in str(info.value)


def test_non_utf8_file_is_a_profile_error(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profile(path)


def test_safe_load_only_no_python_objects():
    with pytest.raises(ProfileError, match="invalid YAML"):
        parse_profile("name: !!python/object/apply:os.system ['true']\n")


def test_remote_target_and_proxy_need_allow_remote():
    ext = "target: {kind: external, url: 'wss://api.example.com', api_key_env: OPENAI_API_KEY}\nproxy: {kind: none}\n"
    with pytest.raises(ProfileError, match="not a loopback address") as info:
        parse_profile(ext)
    assert info.value.path == "target.url" and "--allow-remote" in info.value.expected
    p = parse_profile(ext, allow_remote=True)
    assert p.target.url == "wss://api.example.com/v1/responses"  # the path is implied when absent
    prox = "proxy: {kind: url, url: 'http://192.168.1.5:8474'}\n"
    with pytest.raises(ProfileError, match="not a loopback address"):
        parse_profile(prox)
    assert parse_profile(prox, allow_remote=True).proxy.url == "http://192.168.1.5:8474"


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:9000/v1/responses", "ws://[::1]:9000/custom", "ws://localhost:1"]
)
def test_loopback_external_targets_are_accepted(url):
    p = parse_profile(f"target: {{kind: external, url: '{url}'}}\nfaults: []\n")
    assert p.target.url == (url if "/" in url[5:] else url + "/v1/responses") and p.target.server is None


def test_api_keys_never_reach_errors_or_resolved_output(monkeypatch):
    key = "sk-proj-SECRETSECRET1234"
    for text in (
        f"target: {{kind: external, url: 'ws://127.0.0.1:1', api_key_env: '{key}'}}\n",
        f"target: {{kind: external, url: 'ws://127.0.0.1:1', api_key: '{key}'}}\n",
        f"target: {{server: {{api_key: '{key}'}}}}\n",
    ):
        with pytest.raises(ProfileError) as info:
            parse_profile(text)
        assert key not in str(info.value) and "never" in str(info.value)
    with pytest.raises(ProfileError) as info:
        parse_profile("", overrides=[f"target.server.api_key={key}"])
    assert key not in str(info.value)
    monkeypatch.setenv("AGENT_KEY", key)
    p = parse_profile("target: {kind: external, url: 'ws://127.0.0.1:1', api_key_env: AGENT_KEY}\n")
    assert p.target.api_key({"AGENT_KEY": key}) == key
    resolved = yaml.safe_dump(p.to_dict())
    assert key not in resolved and "AGENT_KEY" in resolved and key not in repr(p)


def test_checks_validator_hook_turns_failures_into_profile_errors(monkeypatch):
    seen = []

    def validator(checks):
        seen.append(checks)
        if "bogus" in checks:
            raise ValueError("unknown check 'bogus'")

    monkeypatch.setattr(profile_mod, "CHECKS_VALIDATOR", validator)
    assert parse_profile("checks: {max_lost_turns: 0}\n").checks == {"max_lost_turns": 0}
    assert seen == [{"max_lost_turns": 0}]
    with pytest.raises(ProfileError) as info:
        parse_profile("checks:\n  bogus: 1\n", source="c.yaml")
    assert (info.value.path, info.value.line) == ("checks", 1) and "unknown check 'bogus'" in str(info.value)


def test_plan_uses_the_test_duration():
    p = parse_profile(FULL, overrides=["load.duration=25m"])
    ids = [w.fault for w in p.plan()]
    assert (
        ids[:3] == ["slow-link#0", "toxic-1#0", "close-2#0"]
        and "slow-link#2" in ids
        and "slow-link#3" not in ids
    )


def test_shipped_profiles_exist():
    names = {p.stem for p in SHIPPED}
    assert {"smoke", "reconnect-storm", "cache-loss", "half-open", "connection-limit", "soak-nightly",
            "broken-recovery"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profile_loads_round_trips_and_says_what_it_shows(path):
    text = path.read_text()
    assert text.startswith("# "), "a shipped profile opens with a comment saying what it shows"
    assert len([ln for ln in text.splitlines() if ln.startswith("#")]) >= 2
    p = load_profile(path)
    assert p.name == path.stem
    again = parse_profile(yaml.safe_dump(p.to_dict(), sort_keys=False), source=str(path))
    assert again == p


def test_shipped_profiles_match_their_briefs():
    load = {p.stem: load_profile(p) for p in SHIPPED}
    smoke = load["smoke"]
    assert smoke.load.users == 200 and 45 <= smoke.load.duration_s <= 90
    assert [f.type or f.kind for f in smoke.faults] == ["latency", "close"] and smoke.faults[1].share == 1.0
    storm = load["reconnect-storm"]
    assert any(f.kind == "close" and f.share == 1.0 for f in storm.faults)
    cache = load["cache-loss"]
    assert cache.agent.store is False and cache.agent.recovery.full_resend is True
    assert any(f.kind == "close" for f in cache.faults)
    half = load["half-open"]
    assert [(f.type, f.attributes) for f in half.faults] == [("timeout", {"timeout": 0})]
    assert half.agent.keepalive.ping_interval_s is not None
    limit = load["connection-limit"]
    assert limit.target.server.connection_lifetime_s < limit.load.duration_s / 2
    soak = load["soak-nightly"]
    assert soak.load.users == 1000 and soak.load.duration_s == 7200
    starts = sorted(w.start_s for w in soak.plan())
    assert len(starts) == 12 and all(b - a == 600 for a, b in zip(starts, starts[1:], strict=False))
    broken = load["broken-recovery"]
    assert broken.agent.store is False and broken.agent.recovery.full_resend is False
    assert any(f.kind == "close" for f in broken.faults)


def test_the_example_in_docs_profiles_md_is_valid():
    doc = (PROFILES.parent / "docs" / "profiles.md").read_text()
    example = doc.split("## Example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    p = parse_profile(example, source="docs/profiles.md")
    assert p.name == "example" and [f.kind for f in p.faults] == ["toxic", "close", "stall", "refuse", "down"]


def _fresh_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=PROFILES.parent, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_the_loader_pulls_in_neither_websocket_client_nor_locust():
    out = _fresh_python(
        "import sys, loadtests.profile, loadtests.profile.validate_cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('websocket', 'locust', 'gevent')))"
    )
    assert out.strip() == "[]"


def test_reconnect_cooldown_is_its_own_knob_down_to_the_user_class():
    """``agent.reconnect.cooldown`` reaches the agents' ReconnectPolicy; ``max_delay`` no longer sets it."""
    p = parse_profile("agent: {reconnect: {max_delay: 2s, cooldown: 30s}}")
    assert (p.agent.reconnect.max_delay_s, p.agent.reconnect.cooldown_s) == (2.0, 30.0)
    assert parse_profile(yaml.safe_dump(p.to_dict())) == p  # the resolved profile keeps it
    assert parse_profile("agent: {reconnect: {max_delay: 2s}}").agent.reconnect.cooldown_s == ReconnectPolicy().cooldown
    with pytest.raises(ProfileError, match="agent.reconnect.cooldown: .*out of range"):
        parse_profile("agent: {reconnect: {cooldown: -1}}")
    out = _fresh_python(
        "from loadtests.profile import parse_profile\n"
        "from loadtests.users import CodingAgentUser, configure_from_profile\n"
        "configure_from_profile(CodingAgentUser, parse_profile("
        "'agent: {reconnect: {max_delay: 2s, cooldown: 30s}}'))\n"
        "r = CodingAgentUser.reconnect\n"
        "print(r.max_delay, r.cooldown)"
    )
    assert out.split() == ["2.0", "30.0"]


def test_health_every_and_the_leak_fault_read_and_round_trip():
    p = parse_profile("name: x\nload: {health_every: 2s}\nfaults:\n  - {name: leak, kind: leak, at: 5s, bytes: 4096}\n")
    assert p.load.health_every_s == 2.0
    (leak,) = p.faults
    assert (leak.kind, leak.bytes, leak.duration_s, leak.ledger_attributes()) == ("leak", 4096, 0.0, {"bytes": 4096})
    again = parse_profile(yaml.safe_dump(p.to_dict()))
    assert again.faults == p.faults and again.load.health_every_s == 2.0
    assert parse_profile("name: x\n").load.health_every_s == 5.0
    with pytest.raises(ProfileError, match="health_every"):
        parse_profile("name: x\nload: {health_every: 0.5s}\n")
    with pytest.raises(ProfileError, match="bytes"):
        parse_profile("name: x\nfaults:\n  - {name: leak, kind: leak, at: 5s, bytes: -1}\n")


def test_frame_reader_reaches_the_user_class_and_a_wrong_one_is_named():
    """``agent.frame_reader`` round-trips, reaches every agent's TransportConfig, and a typo names the key."""
    p = parse_profile("agent: {frame_reader: websocket-client}")
    assert p.agent.frame_reader == "websocket-client" and parse_profile("name: x\n").agent.frame_reader == "fast"
    assert parse_profile(yaml.safe_dump(p.to_dict())) == p
    with pytest.raises(ProfileError, match="agent.frame_reader"):
        parse_profile("agent: {frame_reader: wsproto}")
    out = _fresh_python(
        "from loadtests.profile import parse_profile\n"
        "from loadtests.users import CodingAgentUser, configure_from_profile\n"
        "configure_from_profile(CodingAgentUser, parse_profile('agent: {frame_reader: websocket-client}'))\n"
        "print(CodingAgentUser.frame_reader)"
    )
    assert out.split() == ["websocket-client"]
