"""ServerConfig's field table is the one source: serve flags, server_args and target.server follow it."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from loadtests.profile import ProfileError, parse_profile
from loadtests.profile.target_server import SERVER_KEYS, server_to_dict
from loadtests.run import server_args
from loadtests.server.cli import add_serve_arguments, config_from_args, config_to_args, flag_name
from loadtests.server.config import ServerConfig, knobs, profile_knobs
from loadtests.server.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="serve", exit_on_error=False)
    add_serve_arguments(p)
    return p


def _parse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> ServerConfig:
    monkeypatch.delenv("AGENTSOAK_API_KEY", raising=False)
    return config_from_args(_parser().parse_args(argv))


def _other_value(name: str) -> Any:
    """A valid value for field ``name`` that is not its default, chosen from its knob alone."""
    knob, default = knobs()[name], getattr(ServerConfig(), name)
    if knob.kind == "choice":
        return next(c for c in reversed(knob.choices) if c != default)
    if knob.kind == "flag":
        return not default
    if knob.nullable and default is not None:
        return None
    low = knob.lo if knob.lo is not None else 0
    high = knob.hi if knob.hi is not None else low + 1000
    value = low + (high - low) / 7 if knob.kind != "int" else int(low + max(1, (high - low) // 7))
    if name == "output_tokens_max":  # stays >= the min chosen below
        value = int(knob.hi or value)
    return value


def _override(profile_key: str, value: Any) -> str:
    """``--set`` text putting ``value`` at ``profile_key`` (``a.min``: the range's other end at default)."""
    key, _, part = profile_key.partition(".")
    if not part:
        return f"target.server.{key}={value}"
    ends = dict(server_to_dict(ServerConfig())[key], **{part: value})
    return f"target.server.{key}={{min: {ends['min']}, max: {ends['max']}}}"


def test_every_field_has_a_serve_flag_with_the_configs_default(monkeypatch):
    dests = {a.dest for a in _parser()._actions}
    assert set(ServerConfig.field_names()) <= dests
    assert _parse([], monkeypatch) == ServerConfig()


def test_every_profile_knob_round_trips_profile_to_flags_to_config(monkeypatch):
    """Each settable field, set off its default in a profile, reaches the server unchanged."""
    chosen = {name: _other_value(name) for name in profile_knobs()}
    expected = dataclasses.replace(ServerConfig(), **chosen)
    assert all(getattr(expected, n) != getattr(ServerConfig(), n) for n in chosen)  # the test can fail
    overrides = []
    for key, value in server_to_dict(expected).items():
        text = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}" if isinstance(value, dict) else value
        overrides.append(f"target.server.{key}={'null' if text is None else text}")
    profile = parse_profile("seed: 9", overrides=overrides)
    assert profile.target.server == expected
    argv = server_args(profile)
    assert {a for a in argv if a.startswith("--")} == {flag_name(n) for n in ["seed", *profile_knobs()]}
    assert _parse(argv, monkeypatch) == dataclasses.replace(expected, seed=9)


def test_server_args_of_the_defaults_give_the_default_config(monkeypatch):
    profile = parse_profile("seed: 3")
    assert _parse(server_args(profile), monkeypatch) == ServerConfig(seed=3)


def test_profile_keys_are_the_knobs_profile_names():
    names = {k.profile.partition(".")[0] for k in profile_knobs().values() if k.profile}
    assert set(SERVER_KEYS) == names
    assert "queue_limit" not in SERVER_KEYS and "port" not in SERVER_KEYS  # not a profile's business


@pytest.mark.parametrize(
    "name", [n for n, k in knobs().items() if k.kind in ("int", "number", "duration") and k.lo is not None]
)
def test_bounds_are_enforced_alike_by_the_config_the_flag_and_the_profile(name, monkeypatch):
    knob = knobs()[name]
    assert knob.lo is not None
    below = knob.lo if knob.lo_open else knob.lo - 1
    with pytest.raises(ConfigError, match=name):
        ServerConfig(**{name: below})
    if knob.nullable and below == 0:
        assert _parse([flag_name(name), "0"], monkeypatch) == ServerConfig()  # the flag's "0" is "none"
    else:
        with pytest.raises((argparse.ArgumentError, SystemExit)):
            _parse([flag_name(name), str(below)], monkeypatch)
    if knob.profile is not None:
        with pytest.raises(ProfileError, match="out of range"):
            parse_profile("", overrides=[_override(knob.profile, below)])
    if knob.hi is not None:
        with pytest.raises(ConfigError, match=name):
            ServerConfig(**{name: knob.hi * 2 + 1})


def test_flags_are_passed_for_bools_only_when_not_default():
    config = ServerConfig(compression=False, response_done_compat=True)
    assert config_to_args(config, ["compression", "response_done_compat", "legacy_error_compat"]) == [
        "--no-compression",
        "--response-done-compat",
    ]
    with pytest.raises(ValueError, match="environment"):
        config_to_args(ServerConfig(api_keys=("k",)), ["api_keys"])


def test_cross_field_rule_is_a_profile_error_at_its_key():
    with pytest.raises(ProfileError, match="below min"):
        parse_profile("", overrides=["target.server.output_tokens={min: 50, max: 10}"])
    with pytest.raises(ConfigError, match="output_tokens_min <= output_tokens_max"):
        ServerConfig(output_tokens_min=50, output_tokens_max=10)
