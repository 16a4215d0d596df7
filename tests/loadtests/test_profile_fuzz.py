"""Fuzzing: whatever the YAML, loading a profile ends in a Profile or a clear ProfileError.

Never a traceback from inside the loader, and every valid result round-trips through to_dict().
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtests.profile import Profile, ProfileError, parse_profile

SMOKE = (Path(__file__).resolve().parents[2] / "profiles" / "smoke.yaml").read_text()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "name", "seed", "output_dir", "target", "proxy", "load", "agent", "faults", "checks", "kind", "url",
    "api_key_env", "server", "tokens_per_s", "users", "duration", "at", "every", "share", "type", "stream",
    "toxicity", "attributes", "latency", "rate", "code", "where", "ms", "status", "retry_after", "think_time",
    "distribution", "min", "max", "mean", "value", "reconnect", "recovery", "full_resend", "workers",
]  # fmt: skip
WORDS = ["embedded", "external", "toxic", "close", "stall", "refuse", "down", "latency", "slicer", "bandwidth",
         "uniform", "constant", "10s", "1h30m", "500ms", "ws://127.0.0.1:1", "http://127.0.0.1:8474", "first_event"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.sampled_from([1001, 1006, 429, 0, 1, -1, 0.5]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)


def _check(text: str, overrides=()) -> Profile | None:
    try:
        profile = parse_profile(text, source="fuzz.yaml", overrides=overrides)
    except ProfileError as exc:
        message = str(exc)
        assert message.startswith(("fuzz.yaml", "--set ")), message
        assert "Traceback" not in message
        return None
    again = parse_profile(yaml.safe_dump(profile.to_dict()), source="fuzz.yaml")
    assert again == profile
    return profile


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    _check(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_arbitrary_structures(raw):
    _check(yaml.safe_dump(raw))


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, (*prefix, i))
    yield prefix


SMOKE_RAW = yaml.safe_load(SMOKE)
SMOKE_PATHS = [p for p in _leaf_paths(SMOKE_RAW) if p]


@FUZZ
@given(st.sampled_from(SMOKE_PATHS), values)
def test_mutated_shipped_profile(path, value):
    raw = copy.deepcopy(SMOKE_RAW)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _check(yaml.safe_dump(raw))


@FUZZ
@given(st.lists(st.text(max_size=40), max_size=3))
def test_arbitrary_overrides(items):
    _check(SMOKE, overrides=items)


@FUZZ
@given(st.sampled_from(SMOKE_PATHS), st.text(max_size=20))
def test_overrides_on_real_paths(path, value):
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else ("." if key else "") + str(part)
    _check(SMOKE, overrides=[f"{key}={value}"])
