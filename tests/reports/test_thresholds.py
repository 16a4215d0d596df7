from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.errors import ReportError, ThresholdError
from reports.thresholds import Thresholds


def test_defaults_and_overrides():
    assert Thresholds.from_mapping(None) == Thresholds()
    th = Thresholds.from_mapping({"reconnect_p95_ms": 1500, "max_lost_turns": 2, "recovery_within_pct": None})
    assert th.reconnect_p95_ms == 1500.0 and isinstance(th.reconnect_p95_ms, float)
    assert th.max_lost_turns == 2 and th.recovery_within_pct is None
    assert Thresholds.from_mapping({"max_lost_turns": 3.0}).max_lost_turns == 3


def test_unknown_key_names_it_and_suggests_the_nearest():
    with pytest.raises(ThresholdError) as err:
        Thresholds.from_mapping({"reconect_p95_ms": 1})
    assert err.value.key == "reconect_p95_ms"
    assert "unknown threshold 'reconect_p95_ms'" in str(err.value)
    assert "did you mean 'reconnect_p95_ms'" in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, ReportError)


@pytest.mark.parametrize(("value", "words"), [
    ("fast", "expected a number"), (True, "expected a number"), (-1, ">= 0"), (float("nan"), ">= 0"),
    ([1], "expected a number"),
])
def test_bad_values_are_rejected_with_the_key(value, words):
    with pytest.raises(ThresholdError, match=words) as err:
        Thresholds.from_mapping({"reconnect_p99_ms": value})
    assert "checks.reconnect_p99_ms" in str(err.value)


def test_whole_numbers_and_non_nullable_fields():
    with pytest.raises(ThresholdError, match="whole number"):
        Thresholds.from_mapping({"max_lost_turns": 1.5})
    with pytest.raises(ThresholdError, match="may not be null"):
        Thresholds.from_mapping({"reconnect_grace_s": None})
    with pytest.raises(ThresholdError, match="must be a mapping"):
        Thresholds.from_mapping(["max_lost_turns"])  # type: ignore[arg-type]


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=5), st.lists(st.integers(), max_size=2))
keys = st.one_of(st.sampled_from(list(Thresholds().as_dict())), st.text(max_size=20))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_fuzz_from_mapping_returns_thresholds_or_a_threshold_error(data):
    try:
        th = Thresholds.from_mapping(data)
    except ThresholdError as exc:
        assert exc.key in {str(k) for k in data} or exc.key == "checks"
    else:
        for k, v in data.items():
            assert getattr(th, k) == v
