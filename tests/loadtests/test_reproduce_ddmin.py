"""ddmin (``loadtests.reproduce.ddmin``): pure, 1-minimal, no subset tested twice, no runs."""

from __future__ import annotations

import itertools

import pytest

from loadtests.reproduce.ddmin import ddmin, split


class Oracle:
    """Fails when every item of ``needed`` is in the subset; records each test."""

    def __init__(self, needed: set[int]) -> None:
        self.needed = needed
        self.tests: list[tuple[int, ...]] = []

    def __call__(self, subset: tuple[int, ...]) -> bool:
        self.tests.append(subset)
        return self.needed <= set(subset)


def test_split_is_contiguous_and_even():
    assert split(list(range(5)), 2) == [(0, 1, 2), (3, 4)]
    assert split(list(range(5)), 5) == [(0,), (1,), (2,), (3,), (4,)]
    assert split(list(range(3)), 8) == [(0,), (1,), (2,)]
    assert split([], 2) == [()]


@pytest.mark.parametrize("needed", [{0}, {4}, {2, 3}, {0, 4}, {1, 2, 3}])
def test_finds_exactly_the_needed_items_of_five(needed):
    oracle = Oracle(needed)
    assert ddmin(list(range(5)), oracle) == tuple(sorted(needed))
    assert len(oracle.tests) == len(set(oracle.tests))  # never the same subset twice
    assert tuple(range(5)) not in oracle.tests  # the whole is taken to fail


def test_one_cause_among_five_costs_few_tests():
    """The done-when case: one fault among five (the budget counts runs, so the tests matter)."""
    for cause in range(5):
        oracle = Oracle({cause})
        assert ddmin(list(range(5)), oracle) == (cause,)
        assert len(oracle.tests) <= 5, (cause, oracle.tests)


def test_the_result_is_one_minimal_for_any_monotone_failure():
    items = list(range(7))
    for needed in itertools.chain.from_iterable(itertools.combinations(items, r) for r in (1, 2, 3)):
        result = ddmin(items, Oracle(set(needed)))
        assert set(result) == set(needed)


def test_order_is_kept_and_items_can_be_anything():
    found = ddmin(["b", "a", "c", "d"], lambda s: "c" in s and "b" in s)
    assert found == ("b", "c")


def test_the_empty_subset_only_when_allowed():
    assert ddmin([1, 2, 3], lambda s: True) == (1,)
    oracle_calls: list[tuple] = []

    def always(s: tuple) -> bool:
        oracle_calls.append(s)
        return True

    assert ddmin([1, 2, 3], always, allow_empty=True) == ()
    assert oracle_calls[-1] == ()
    assert ddmin([1, 2, 3], lambda s: 2 in s, allow_empty=True) == (2,)
    assert ddmin([], lambda s: True, allow_empty=True) == ()
    assert ddmin([9], lambda s: False) == (9,)  # nothing smaller fails: the whole stays


def test_a_flaky_failure_still_ends_with_a_subset():
    """Not monotone (fails only for odd-sized subsets): ddmin still ends, with a failing subset or the whole."""
    calls = []

    def odd(s: tuple) -> bool:
        calls.append(s)
        return len(s) % 2 == 1

    result = ddmin(list(range(6)), odd)
    assert result == tuple(range(6)) or odd(result)
    assert len(calls) < 64
