"""The access diff's fast set operations agree with AddrSet's own (property test)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.diff.access.sets import minus, overlaps, subset
from reconciler.engine.addrset import AddrSet
from tests.conftest import examples

intervals = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 6)).map(
    lambda t: (t[0], t[0] + t[1])), max_size=40)
addrsets = st.builds(AddrSet, intervals, intervals)


@settings(max_examples=examples(300), deadline=None)
@given(addrsets, addrsets)
def test_minus_and_subset_match_addrset(a: AddrSet, b: AddrSet) -> None:
    assert minus(a, b) == a - b
    assert subset(a, b) == a.issubset(b)
    assert subset(minus(a, b), a)


@settings(max_examples=examples(300), deadline=None)
@given(addrsets, addrsets)
def test_overlaps_matches_addrset(a: AddrSet, b: AddrSet) -> None:
    assert overlaps(a, b) == a.overlaps(b) == overlaps(b, a)
