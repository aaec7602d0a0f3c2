"""AddrSet: interval algebra checked against plain Python sets, and Tailscale's string forms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import AddressError
from reconciler.engine.addrset import ALL, EMPTY, TAILNET, AddrSet, parse_ip
from tests.conftest import examples

# Small universe so a set of ints is a faithful model of the intervals.
intervals = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=6,
)


def model(s: AddrSet) -> set[tuple[int, int]]:
    return set(s.addresses())


def make(v4: list[tuple[int, int]], v6: list[tuple[int, int]]) -> AddrSet:
    return AddrSet(v4, v6)


@given(intervals, intervals, intervals, intervals)
def test_algebra_matches_python_sets(a4, a6, b4, b6) -> None:
    a, b = make(a4, a6), make(b4, b6)
    assert model(a | b) == model(a) | model(b)
    assert model(a & b) == model(a) & model(b)
    assert model(a - b) == model(a) - model(b)
    assert a.overlaps(b) == bool(model(a) & model(b))
    assert a.issuperset(b) == (model(b) <= model(a))
    for fam, value in [(4, n) for n in range(0, 70, 3)] + [(6, n) for n in range(0, 70, 5)]:
        assert a.contains_int(fam, value) == ((fam, value) in model(a))


@given(intervals, intervals)
def test_merged_form_is_canonical(a4, a6) -> None:
    a = make(a4, a6)
    rebuilt = make(list(reversed(a.v4)) + list(a.v4), list(a.v6))
    assert rebuilt == a and hash(rebuilt) == hash(a)
    for first, second in zip(a.v4, a.v4[1:], strict=False):
        assert first[1] + 1 < second[0]  # neither overlapping nor adjacent


def test_parse_and_render_tailscale_forms() -> None:
    s = AddrSet.parse_many(["100.64.0.0-100.115.91.255", "10.33.0.0/16", "100.64.0.1",
                            "fd7a:115c:a1e0::/48"])
    assert s.to_strings() == ["10.33.0.0/16", "100.64.0.0-100.115.91.255",
                              "fd7a:115c:a1e0::/48"]
    assert AddrSet.parse("*") == ALL and ALL.to_strings() == ["*"]
    assert AddrSet.parse("100.64.0.7").to_strings() == ["100.64.0.7"]
    assert AddrSet.parse("[fd7a::1]").to_strings() == ["fd7a::1"]
    assert AddrSet.parse("10.1.2.3/8").to_strings() == ["10.0.0.0/8"]  # host bits masked
    assert not EMPTY and EMPTY.to_strings() == []


def test_tailnet_wildcard_matches_saas_expansion() -> None:
    assert TAILNET.to_strings() == ["100.64.0.0-100.115.91.255",
                                    "100.115.94.0-100.127.255.255", "fd7a:115c:a1e0::/48"]
    assert "100.115.92.5" not in TAILNET and "100.115.94.0" in TAILNET


@pytest.mark.parametrize("bad", ["300.1.1.1", "10.0.0.0/33", "1.2.3.4-1.2.3.1",
                                 "1.2.3.4-::1", "host", ""])
def test_bad_addresses_raise_clear_errors(bad: str) -> None:
    with pytest.raises(AddressError) as e:
        AddrSet.parse(bad)
    assert repr(bad)[1:-1] in str(e.value)


def test_ipv4_and_ipv6_never_mix() -> None:
    v4 = AddrSet.parse("0.0.0.0/0")
    v6 = AddrSet.parse("::/0")
    assert not v4.overlaps(v6) and (v4 | v6) == ALL
    assert parse_ip("[::1]") == (6, 1)


big_intervals = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=40, max_size=80,
)
small_intervals = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=3,
)


@given(big_intervals, small_intervals)
def test_union_of_a_large_and_a_small_set(big, small) -> None:
    """The bisect path of `|` (one side much smaller) agrees with the plain merge."""
    a, b = make(big, big), make(small, small)
    assert model(a | b) == model(a) | model(b)
    assert model(b | a) == model(a) | model(b)
    assert (a | b) == AddrSet(list(a.v4) + list(b.v4), list(a.v6) + list(b.v6))


@given(st.integers(0, (1 << 128) - 1))
def test_fast_ipv6_parser_agrees_with_ipaddress(value: int) -> None:
    import ipaddress

    addr = ipaddress.IPv6Address(value)
    assert parse_ip(str(addr)) == (6, value)
    assert parse_ip(addr.exploded) == (6, value)


@given(st.integers(0, (1 << 32) - 1))
def test_fast_ipv4_parser_agrees_with_ipaddress(value: int) -> None:
    import ipaddress

    assert parse_ip(str(ipaddress.IPv4Address(value))) == (4, value)


@pytest.mark.parametrize("bad", ["1.2.3.04", "1.2.3.256", "1:::2", ":1", "1:2:3:4:5:6:7:8:9",
                                 "fd7a::1:2:3:4:5:6:7", "12345::1"])
def test_fast_parsers_reject_what_ipaddress_rejects(bad: str) -> None:
    with pytest.raises(AddressError):
        parse_ip(bad)


@given(big_intervals, small_intervals, small_intervals)
def test_overlaps_of_a_large_and_a_small_set(big, small, small6) -> None:
    """`overlaps` bisects the smaller side into the larger: both ways round, per family."""
    a, b = make(big, small6), make(small, big)
    assert a.overlaps(b) == b.overlaps(a) == bool(model(a) & model(b))
    c = make(small, small6)
    assert a.overlaps(c) == c.overlaps(a) == bool(model(a) & model(c))
    # touching ends: an interval of the larger set starting where a smaller one ends
    for first, last in a.v4:
        for touch in (make([(first - 5, first)], []), make([(last, last + 5)], []),
                      make([(first - 5, first - 1)], [])):
            assert a.overlaps(touch) == touch.overlaps(a) == bool(model(a) & model(touch))


@settings(max_examples=examples(300), deadline=None)
@given(big_intervals, small_intervals, small_intervals)
def test_difference_and_subset_of_a_large_and_a_small_set(big, small, small6) -> None:
    """`-` walks the smaller side (bisecting into the larger, or punching holes into it
    with slices) and `issubset` bisects per interval: both pinned to plain sets, both
    ways round, as the access diff uses them (a few devices against fragmented sets)."""
    a, b = make(big, small6), make(small, big)
    for x, y in ((a, b), (b, a), (a, a), (a, make(small, small6)), (make(small, small6), a)):
        assert model(x - y) == model(x) - model(y)
        rebuilt = AddrSet([(v, v) for f, v in model(x - y) if f == 4],
                          [(v, v) for f, v in model(x - y) if f == 6])
        assert (x - y) == rebuilt  # merged: equal sets, equal interval lists
        assert x.issubset(y) == (model(x) <= model(y)) == y.issuperset(x)
        assert (x - y).issubset(x)
