"""Every schema error path: each bad value gives a ProfileError naming its key path and what was
expected (never a traceback, never a silent default)."""

from __future__ import annotations

import tracemalloc

import pytest

from loadtests.profile import ProfileError, load_profile, parse_profile

BASE = """\
name: base
target: {kind: embedded}
proxy: {kind: embedded}
load: {users: 10, spawn_rate: 5, duration: 2m}
agent: {store: true}
faults:
  - {name: lat, kind: toxic, type: latency, at: 10s, duration: 5s, attributes: {latency: 100}}
  - {name: cut, kind: close, code: 1006, at: 20s}
  - {name: st, kind: stall, where: first_event, ms: 100, at: 30s, duration: 5s}
  - {name: rf, kind: refuse, status: 429, at: 40s, duration: 5s}
"""

EXTERNAL = ["target={kind: external, url: 'ws://127.0.0.1:9'}", "faults=[]"]

# (overrides, error path, fragment of the message, suggestion or None)
CASES = [
    # top level
    (["fualts=[]"], "fualts", "unknown key", "faults"),
    (["name=has space"], "name", "expected a name", None),
    (["name=''"], "name", "got ''", None),
    (["seed=-1"], "seed", "out of range", None),
    (["seed=abc"], "seed", "expected an integer", None),
    (["output_dir=5"], "output_dir", "expected a directory path", None),
    # target
    (["target=5"], "target", "expected a mapping", None),
    (["target.kind=embeded"], "target.kind", "expected one of embedded, external", "embedded"),
    (["target.url=ws://127.0.0.1:1"], "target.url", "only for target.kind external", None),
    (["target.api_key_env=KEY"], "target.api_key_env", "only for target.kind external", None),
    (["target.api_key=x"], "target.api_key", "never go in a profile", None),
    (["target.kind=external", "faults=[]"], "target", "missing required key 'url'", None),
    ([*EXTERNAL, "target.server={}"], "target.server", "only for target.kind embedded", None),
    ([*EXTERNAL, "target.url=http://127.0.0.1:9"], "target.url", "a ws:// URL or a wss:// URL", None),
    ([*EXTERNAL, "target.url=ws://example.com"], "target.url", "not a loopback address", None),
    ([*EXTERNAL, "target.url=ws://10.1.2.3:80"], "target.url", "not a loopback address", None),
    ([*EXTERNAL, "target.url=ws://u:p@127.0.0.1:9"], "target.url", "credentials", None),
    ([*EXTERNAL, "target.url=ws://127.0.0.1:99999"], "target.url", "not a valid URL", None),
    ([*EXTERNAL, "target.url=5"], "target.url", "expected a ws:// URL", None),
    ([*EXTERNAL, "target.api_key_env=1ABC"], "target.api_key_env", "NAME of an environment variable", None),
    ([*EXTERNAL[:1]], "faults[1].kind", "admin API", None),
    # target.server
    (["target.server=[]"], "target.server", "expected a mapping", None),
    (["target.server.tokens_per_sec=5"], "target.server.tokens_per_sec", "unknown key", "tokens_per_s"),
    (["target.server.api_key=x"], "target.server.api_key", "never go in a profile", None),
    (["target.server.tokens_per_s=0"], "target.server.tokens_per_s", "out of range", None),
    (["target.server.tokens_per_delta=0"], "target.server.tokens_per_delta", "out of range", None),
    (["target.server.ttft_base_ms=-1"], "target.server.ttft_base_ms", "out of range", None),
    (["target.server.hydrate_delay_ms=fast"], "target.server.hydrate_delay_ms", "expected a number", None),
    (["target.server.output_tokens={min: 10, max: 5}"], "target.server.output_tokens.max", "below min", None),
    (["target.server.output_tokens={max: 5}"], "target.server.output_tokens", "missing required key 'min'", None),
    (["target.server.output_tokens=5"], "target.server.output_tokens", "expected a range", None),
    (["target.server.tool_call_probability=1.5"], "target.server.tool_call_probability", "out of range", None),
    (["target.server.store_capacity=-1"], "target.server.store_capacity", "out of range", None),
    (["target.server.connection_lifetime_s=0"], "target.server.connection_lifetime_s", "out of range", None),
    (["target.server.connection_lifetime_s=soon"], "target.server.connection_lifetime_s", "a duration", None),
    (["target.server.limit_mode=unsolicitd"], "target.server.limit_mode", "expected one of", "unsolicited"),
    (["target.server.limit_close_code=1002"], "target.server.limit_close_code", "1001, 1000, 1008, null", None),
    (["target.server.limit_close_delay_s=-1"], "target.server.limit_close_delay_s", "out of range", None),
    (["target.server.ping_interval_s=0"], "target.server.ping_interval_s", "out of range", None),
    # proxy
    (["proxy.kind=toxiproxy"], "proxy.kind", "expected one of embedded, real, url, none", None),
    (["proxy.kind=url"], "proxy", "missing required key 'url'", None),
    (["proxy.url=http://127.0.0.1:8474"], "proxy.url", "only for proxy.kind url", None),
    (["proxy.kind=url", "proxy.url=http://8.8.8.8:8474"], "proxy.url", "not a loopback address", None),
    (["proxy.kind=url", "proxy.url=ws://127.0.0.1:8474"], "proxy.url", "expected a http:// URL", None),
    (["proxy.workers=0"], "proxy.workers", "out of range", None),
    (["proxy.kind=none"], "faults[0].kind", "needs a proxy", None),
    # load
    (["load.users=0"], "load.users", "out of range", None),
    (["load.users=true"], "load.users", "expected an integer", None),
    (["load.users=1.5"], "load.users", "expected an integer", None),
    (["load.userz=5"], "load.userz", "unknown key", "users"),
    (["load.spawn_rate=0"], "load.spawn_rate", "expected a number > 0", None),
    (["load.duration=10x"], "load.duration", "such as 500ms", None),
    (["load.duration=0"], "load.duration", "out of range", None),
    (["load.duration=-5"], "load.duration", "out of range", None),
    (["load.duration=31d"], "load.duration", "at most 30d", None),
    (["load.duration=.nan"], "load.duration", "a duration", None),
    (["load.processes=0"], "load.processes", "0 is not allowed", None),
    (["load.processes=-2"], "load.processes", "out of range", None),
    # agent
    (["agent=[]"], "agent", "expected a mapping", None),
    (["agent.turns_per_session=0"], "agent.turns_per_session", "out of range", None),
    (["agent.tool_call_ratio=-0.1"], "agent.tool_call_ratio", "out of range", None),
    (["agent.think_time={min: 1s}"], "agent.think_time", "missing required key 'distribution'", None),
    (["agent.think_time={distribution: normal}"], "agent.think_time.distribution", "expected one of", None),
    (["agent.think_time={distribution: unifrom}"], "agent.think_time.distribution", "expected one of", "uniform"),
    (["agent.think_time={distribution: uniform, min: 1s}"], "agent.think_time", "missing required key 'max'", None),
    (["agent.think_time={distribution: uniform, min: 2s, max: 1s}"], "agent.think_time.max", "below min", None),
    (["agent.think_time={distribution: constant, min: 1s}"], "agent.think_time.min", "unknown key", None),
    (["agent.think_time={distribution: exponential, mean: 0}"], "agent.think_time.mean", "out of range", None),
    (["agent.think_time=2s"], "agent.think_time", "expected a think-time mapping", None),
    (["agent.input_tokens=100"], "agent.input_tokens", "expected a range", None),
    (["agent.input_tokens={min: 0, max: 5}"], "agent.input_tokens.min", "out of range", None),
    (["agent.output_tokens={min: 1, max: 5, avg: 3}"], "agent.output_tokens.avg", "unknown key", None),
    (["agent.store=1"], "agent.store", "expected true or false", None),
    (["agent.model=gpt 5"], "agent.model", "without spaces", None),
    (["agent.keepalive.ping_timeout=0"], "agent.keepalive.ping_timeout", "out of range", None),
    (["agent.keepalive.interval=5s"], "agent.keepalive.interval", "unknown key", "ping_interval"),
    (["agent.idle_timeout=0"], "agent.idle_timeout", "out of range", None),
    (["agent.rotate_after=forever"], "agent.rotate_after", "a duration", None),
    (["agent.reconnect.max_retries=-1"], "agent.reconnect.max_retries", "out of range", None),
    (["agent.reconnect.max_delay=100ms"], "agent.reconnect.max_delay", "below base_delay", None),
    (["agent.reconnect.jitter_min=1.5"], "agent.reconnect", "below jitter_min", None),
    (["agent.reconnect.jitter_max=-1"], "agent.reconnect.jitter_max", "out of range", None),
    (["agent.recovery.full_resend=0"], "agent.recovery.full_resend", "expected true or false", None),
    (["agent.recovery.resend=false"], "agent.recovery.resend", "unknown key", "full_resend"),
    (["agent.retry=1"], "agent.retry", "unknown key", None),
    # faults: shape
    (["faults={a: 1}"], "faults", "expected a list", None),
    (["faults=[5]"], "faults[0]", "expected a fault entry", None),
    (["faults=[{at: 1s}]"], "faults[0]", "missing required key 'kind'", None),
    (["faults[0].kind=toxik"], "faults[0].kind", "expected one of", "toxic"),
    (["faults=[{kind: close, code: 1001}]"], "faults[0]", "missing required key 'at'", None),
    (["faults[0].at=-1s"], "faults[0].at", "a duration", None),
    (["faults[0].statr=1"], "faults[0].statr", "unknown key", "status"),
    (["faults[0].code=1001"], "faults[0].code", "unknown key", None),
    (["faults[0].name=bad name"], "faults[0].name", "expected a name", None),
    (["faults[1].name=lat"], "faults[1].name", "duplicate fault name 'lat'", None),
    (["faults[0].share=1.5"], "faults[0].share", "out of range", None),
    (["faults=[{kind: down, at: 1s, duration: 1s, share: 0.5}]"], "faults[0].share", "unknown key", None),
    (["faults=[{kind: wipe_store, at: 1s, share: 0.5}]"], "faults[0].share", "unknown key", None),
    # faults: timing
    (["faults[1].duration=5s"], "faults[1].duration", "instantaneous", None),
    (["faults[1].every=500ms"], "faults[1].every", "at least 1s", None),
    (["faults[0].every=5s"], "faults[0].every", "must end before it repeats", None),
    (["faults[0].duration=0", "faults[0].every=1m"], "faults[0].every", "must end before it repeats", None),
    (["load.duration=30d", "faults[1].every=1s"], "faults[1].every", "repeats 2,591,980 times", None),
    (["faults[3]={kind: stall, where: first_event, ms: 5, at: 32s, duration: 1s}"], "faults[3]", "overlaps st#0", None),
    (["faults=[{kind: down, at: 1s, duration: 10s}, {kind: down, at: 5s, duration: 1s}]"], "faults[1]", "overlaps", None),
    (["faults=[{kind: down, at: 1s}, {kind: down, at: 50s, duration: 1s}]"], "faults[1]", "overlaps down-0#0", None),
    # faults: toxic
    (["faults[0].type=latancy"], "faults[0].type", "expected one of", "latency"),
    (["faults=[{kind: toxic, at: 1s}]"], "faults[0]", "missing required key 'type'", None),
    (["faults[0].stream=both"], "faults[0].stream", "expected one of downstream, upstream", None),
    (["faults[0].toxicity=2"], "faults[0].toxicity", "out of range", None),
    (["faults[0].attributes=5"], "faults[0].attributes", "expected a mapping", None),
    (["faults[0].attributes.latncy=5"], "faults[0].attributes.latncy", "unknown key", "latency"),
    (["faults[0].attributes.rate=5"], "faults[0].attributes.rate", "unknown key", None),
    (["faults[0].attributes.latency=-1"], "faults[0].attributes.latency", "out of range", None),
    (["faults[0].attributes.latency=1.5"], "faults[0].attributes.latency", "expected an integer", None),
    (["faults[0].attributes.latency=100ms"], "faults[0].attributes.latency", "expected an integer", None),
    (["faults[0].type=bandwidth", "faults[0].attributes={}"], "faults[0].attributes", "rate must be > 0", None),
    (["faults[0].type=bandwidth", "faults[0].attributes={rate: 0}"], "faults[0].attributes.rate", "rate must be > 0", None),
    (["faults[0].type=slicer", "faults[0].attributes={}"], "faults[0].attributes", "average_size must be > 0", None),
    (["faults[0].type=slicer", "faults[0].attributes={average_size: 10, size_variation: 10}"],
     "faults[0].attributes.size_variation", "size_variation must be >= 0 and < average_size", None),
    (["faults[0].type=noop", "faults[0].attributes={latency: 5}"], "faults[0].attributes.latency", "unknown key", None),
    # faults: protocol
    (["faults=[{kind: close, at: 1s}]"], "faults[0]", "missing required key 'code'", None),
    (["faults[1].code=1002"], "faults[1].code", "expected one of 1000, 1001, 1006, 1008, 1011, 1012, 1013", None),
    (["faults[2].where=middle"], "faults[2].where", "expected one of after_headers, between_deltas, first_event", None),
    (["faults=[{kind: stall, at: 1s, ms: 5}]"], "faults[0]", "missing required key 'where'", None),
    (["faults[2].stall=3s"], "faults[2].stall", "either ms or stall", None),
    (["faults=[{kind: stall, where: first_event, at: 1s}]"], "faults[0]", "missing the stall length", None),
    (["faults[2].ms=0"], "faults[2].ms", "out of range", None),
    (["faults[3].status=500"], "faults[3].status", "expected one of 401, 426, 429", None),
    (["faults[3].status=401", "faults[3].retry_after=5s"], "faults[3].retry_after", "only a 429", None),
    (["faults=[{kind: refuse, at: 1s}]"], "faults[0]", "missing required key 'status'", None),
    # checks
    (["checks=[1]"], "checks", "expected a mapping", None),
    (["checks.max_lost=many"], "checks.max_lost", "expected a finite number, true/false, or null", None),
    (["checks.max_lost=.inf"], "checks.max_lost", "finite", None),
    (["checks={1: 2}"], "checks.1", "non-empty strings", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "path", "fragment", "suggestion"), CASES, ids=[c[1] + ":" + c[2] for c in CASES]
)
def test_schema_error(overrides, path, fragment, suggestion):
    with pytest.raises(ProfileError) as info:
        parse_profile(BASE, source="profiles/base.yaml", overrides=overrides)
    e = info.value
    assert e.path == path, str(e)
    assert fragment in str(e)
    assert e.suggestion == suggestion
    # Attributed to the override when it set this value (or a parent), else to the file's line.
    assert (e.file.startswith("--set ") and e.line is None) or (e.file == "profiles/base.yaml" and e.line)
    assert "Traceback" not in str(e)


def test_base_profile_is_valid():
    assert len(parse_profile(BASE).faults) == 4


# Errors in the file itself carry its line.
TEXT_CASES = [
    ("- a\n- b\n", "", 1, "must be a mapping"),
    ("name: x\nname: y\n", "", 2, "duplicate key 'name'"),
    ("name: x\n1: y\n", "1", 2, "keys must be strings"),
    ("load:\n  users: 5\n  duration: 10q\n", "load.duration", 3, "a duration"),
    ("name: x\nagent:\n  think_time:\n    distribution: uniform\n    min: 1s\n", "agent.think_time", 3, "'max'"),
    ("faults:\n  - kind: close\n    at: 1s\n    code: 1006\n  - kind: close\n    at: 2s\n    cod: 1\n",
     "faults[1].cod", 7, "did you mean 'code'"),
    ("load: {users: 5\n", "", 2, "invalid YAML"),
    ("a: &x [*x]\n", "", None, "invalid YAML"),
    ("name: !!binary aGVsbG8=\n", "name", 1, "expected a name"),
    ("seed: 2001-01-01\n", "seed", 1, "expected an integer"),
    ("agent: {store: !!set {a, b}}\n", "agent.store", 1, "true or false"),
    ("\t- bad\n", "", 1, "invalid YAML"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", "", None, "invalid YAML"),
    ("? [a, b]\n: c\n", "", 1, "unhashable key"),
    ("load: {duration: 1%s}\n" % ("0" * 400), "load.duration", 1, "a duration"),
    ("load: {spawn_rate: 1%s}\n" % ("0" * 400), "load.spawn_rate", 1, "finite number"),
    ("checks: {a: 1%s}\n" % ("0" * 400), "checks.a", 1, "finite number"),
    ("output_dir: \"runs\\0\"\n", "output_dir", 1, "a directory path"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "path", "line", "fragment"), TEXT_CASES)
def test_file_error_has_line(text, path, line, fragment):
    with pytest.raises(ProfileError) as info:
        parse_profile(text, source="p.yaml")
    e = info.value
    assert (e.file, e.path) == ("p.yaml", path), str(e)
    if line is not None:
        assert e.line == line, str(e)
    assert fragment in str(e)


OVERRIDE_CASES = [
    ("load.users", "--set load.users", "expected KEY.PATH=VALUE"),
    ("=5", "--set ", "expected KEY.PATH=VALUE"),
    ("load..users=5", "--set load..users", "bad key path"),
    ("load.users=[1", "--set load.users", "invalid YAML"),
    ("load.users.max=5", "--set load.users.max", "load.users is not a mapping"),
    ("faults[9].at=5", "--set faults[9].at", "no such list item"),
    ("name[0]=x", "--set name[0]", "name is not a mapping"),
    ("faults[0]=5", "--set faults[0]", None),  # a valid override whose value is then invalid
]


@pytest.mark.parametrize(("item", "file", "fragment"), OVERRIDE_CASES)
def test_override_errors(item, file, fragment):
    with pytest.raises(ProfileError) as info:
        parse_profile(BASE, overrides=[item])
    assert info.value.file == file, str(info.value)
    if fragment:
        assert fragment in str(info.value)


# -- size caps (docs/profiles.md "Size caps") -------------------------------------------------------

REFUSED_PEAK_BYTES = 32 << 20  # the caps are arithmetic: expanding even 980,000 windows would need far more


def refused(parse, *args) -> tuple[ProfileError, int]:
    """The ProfileError that ``parse(*args)`` raises and the peak bytes Python allocated meanwhile
    (a memory bound holds on a loaded machine, where a wall-clock bound does not)."""
    tracemalloc.start()
    try:
        with pytest.raises(ProfileError) as err:
            parse(*args)
        return err.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_every_1ms_over_24h_is_refused_at_once_naming_the_entry_and_the_count():
    """86 million windows are counted, not built: the refusal names the entry, the count and the cap."""
    text = "load: {duration: 24h}\nfaults:\n  - {name: spam, kind: close, code: 1006, at: 0s, every: 1ms}\n"
    error, peak = refused(parse_profile, text)
    assert peak < REFUSED_PEAK_BYTES, f"{peak:,} bytes allocated"
    message = str(error)
    assert "faults[0].every" in message and "'spam'" in message and "86,400,000" in message, message
    assert "at most 10,000 fault windows" in message


def test_many_repeating_entries_are_capped_in_total_before_any_is_expanded():
    """Each entry is under the cap, the timeline is not (~980,000 windows): refused at the entry that
    crosses 10,000, without building them (it used to expand them all: a minute and gigabytes)."""
    lines = ["load: {duration: 3h}", "faults:"]
    lines += [f"  - {{name: c{i}, kind: close, code: 1006, at: {i / 100}s, every: 1.1s}}" for i in range(100)]
    error, peak = refused(parse_profile, "\n".join(lines) + "\n")
    assert peak < REFUSED_PEAK_BYTES, f"{peak:,} bytes allocated"
    assert "faults[1].every" in str(error) and "19,638 fault windows" in str(error), str(error)


def test_a_profile_file_over_1_mib_is_refused_naming_the_cap(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\n# " + "x" * (1 << 20) + "\n: [unclosed\n")  # refused before YAML sees it
    message = str(refused(load_profile, path)[0])
    size = path.stat().st_size
    assert message.startswith(str(path)) and f"{size:,} bytes" in message and "cap of 1,048,576 bytes" in message


def test_a_profile_just_under_the_cap_still_loads(tmp_path):
    path = tmp_path / "big.yaml"
    body = "name: big\n"
    path.write_text(body + "#" * ((1 << 20) - len(body) - 1) + "\n")
    assert load_profile(path).name == "big"
