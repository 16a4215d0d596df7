"""Toxic classes without sockets: registry, attributes, checks, slicer cuts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.toxics import TOXICS, Toxic, ToxicInputError, make_toxic


def test_registry_has_every_toxiproxy_type_with_its_attributes():
    expected = {
        "latency": {"latency": 0, "jitter": 0}, "bandwidth": {"rate": 0}, "slow_close": {"delay": 0},
        "timeout": {"timeout": 0}, "reset_peer": {"timeout": 0},
        "slicer": {"average_size": 0, "size_variation": 0, "delay": 0}, "limit_data": {"bytes": 0}, "noop": {},
    }
    assert {k: cls().attributes() for k, cls in TOXICS.items()} == expected


@pytest.mark.parametrize("kind", sorted(TOXICS))
def test_each_toxic_says_what_it_does_in_one_sentence_of_its_own(kind):
    """Not the signature ``@dataclass`` writes when a class has no docstring, nor its base's."""
    cls = TOXICS[kind]
    doc = cls.__dict__.get("__doc__") or ""
    assert not doc.startswith(cls.__name__ + "("), f"{cls.__name__} has only the generated doc {doc!r}"
    assert doc.count("\n") == 0 and doc.endswith(".") and len(doc.split()) >= 3, doc
    others = {c.__dict__.get("__doc__") for k, c in TOXICS.items() if k != kind} | {Toxic.__doc__}
    assert doc not in others, f"{cls.__name__} shares its doc with another toxic"


def test_unknown_attributes_are_ignored_and_checks_name_the_field():
    assert make_toxic("latency", {"latency": 5, "nope": 1}).attributes() == {"latency": 5, "jitter": 0}
    with pytest.raises(ToxicInputError, match="^limit_data: bytes must be >= 0$"):
        make_toxic("limit_data", {"bytes": -1})


@given(n=st.integers(1, 5000), avg=st.integers(1, 300), var_frac=st.floats(0, 0.99), seed=st.integers(0, 99))
def test_slicer_cuts_cover_the_chunk_in_bounded_pieces(n, avg, var_frac, seed):
    var = int(avg * var_frac)
    cuts = make_toxic("slicer", {"average_size": avg, "size_variation": var}).cuts(n, random.Random(seed))
    sizes = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
    assert cuts[0] == 0 and cuts[-1] == n and all(s > 0 for s in sizes)
    assert max(sizes) <= avg


def test_slicer_cuts_are_reproducible_from_the_seed():
    s = make_toxic("slicer", {"average_size": 10, "size_variation": 5})
    assert s.cuts(1000, random.Random(1)) == s.cuts(1000, random.Random(1))
    assert s.cuts(1000, random.Random(1)) != s.cuts(1000, random.Random(2))  # the sizes come from the rng
