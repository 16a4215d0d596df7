"""The agent's in-flight retry knobs (``agent.recovery``): defaults, the policy they build, clear errors."""

from __future__ import annotations

import pytest

from loadtests.profile import ProfileError, parse_profile
from loadtests.transport_config import NO_STREAM_RETRY, TRANSPORT_DEFAULTS, StreamRetryPolicy
from tests.loadtests.test_profile_errors import BASE


def test_default_recovery_is_the_codex_cli_stream_retry_policy():
    """No knobs: 5 retries, 200 ms doubling, no cap, jitter U(0.9, 1.1), the transport's one default."""
    policy = parse_profile(BASE).agent.recovery.stream_retry()
    assert policy == TRANSPORT_DEFAULTS.stream_retry == StreamRetryPolicy(5, 0.2, None, 0.9, 1.1)


def test_recovery_knobs_build_the_policy_and_round_trip():
    overrides = ["agent.recovery={stream_retries: 2, stream_retry_base_delay: 50ms, stream_retry_max_delay: 80ms}"]
    profile = parse_profile(BASE, overrides=overrides)
    assert profile.agent.recovery.stream_retry() == StreamRetryPolicy(2, 0.05, 0.08)
    again = parse_profile(__import__("yaml").safe_dump(profile.to_dict()))
    assert again.agent.recovery == profile.agent.recovery


def test_retry_in_flight_false_means_no_retry_whatever_the_count():
    profile = parse_profile(BASE, overrides=["agent.recovery={retry_in_flight: false, stream_retries: 5}"])
    assert profile.agent.recovery.stream_retry() == NO_STREAM_RETRY


@pytest.mark.parametrize(("override", "path", "fragment"), [
    ("agent.recovery.stream_retries=-1", "agent.recovery.stream_retries", "out of range"),
    ("agent.recovery.stream_retries=101", "agent.recovery.stream_retries", "out of range"),
    ("agent.recovery.stream_retries=two", "agent.recovery.stream_retries", "expected an integer"),
    ("agent.recovery.stream_retry_base_delay=fast", "agent.recovery.stream_retry_base_delay", "duration"),
    ("agent.recovery={stream_retry_base_delay: 1s, stream_retry_max_delay: 500ms}",
     "agent.recovery.stream_retry_max_delay", "below stream_retry_base_delay"),
    ("agent.recovery.stream_retry=3", "agent.recovery.stream_retry", "unknown key"),
])
def test_bad_recovery_knob_names_its_path(override, path, fragment):
    with pytest.raises(ProfileError) as info:
        parse_profile(BASE, source="profiles/base.yaml", overrides=[override])
    assert info.value.path == path and fragment in str(info.value), str(info.value)
