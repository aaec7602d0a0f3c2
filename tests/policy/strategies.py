"""Hypothesis strategies for policy documents: the fuzz and fast-path tests share them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from reconciler.validate.schema import ENTRY_TYPES, TOP_LEVEL

# Strings that reach the interesting parsers: selectors, ports, protos, durations, postures.
WORDS = st.sampled_from(
    [
        "*",
        "",
        " ",
        "tag:web",
        "tag:",
        "group:eng",
        "autogroup:self",
        "autogroup:member",
        "autogroup:internet",
        "autogroup:danger-all",
        "alice@example.com",
        "user:*@x.com",
        "user:b*b@x",
        "db1",
        "host:db1",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "10.0.0.0/99",
        "::/0",
        "100.64.0.1",
        "[fd7a::1]:22",
        "fd7a::1",
        "1.2.3.4-1.2.3.1",
        "ipset:a",
        "svc:web",
        "posture:p",
        "tag:web:22",
        "*:*",
        "x:0",
        "x:65536",
        "x:1-",
        "tcp:22",
        "icmp",
        "tcp:",
        "a:b:c",
        "accept",
        "check",
        "deny",
        "168h",
        "-1s",
        "1d",
        "always",
        "localpart:*@",
        "node:os == 'x'",
        "node:os IN",
        "node:tsVersion >",
        "add ipset:a",
        "remove 10.0.0.0/8",
        "add",
        "%bogus%",
        "tailscale.com/cap/x",
        "https://a/b",
        "mac-always",
    ]
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(), WORDS)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(WORDS, st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=12,
)
FIELD_NAMES = sorted({name for fields in ENTRY_TYPES.values() for name in fields})


def entry() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(FIELD_NAMES), VALUES, max_size=5)


_SECTIONVALUES = st.one_of(
    VALUES,
    st.lists(entry(), max_size=3),
    st.dictionaries(WORDS, st.lists(WORDS, max_size=3), max_size=3),
    st.dictionaries(WORDS, entry(), max_size=2),
)
DOCS = st.dictionaries(
    st.one_of(st.sampled_from(sorted(TOP_LEVEL)), WORDS), _SECTIONVALUES, max_size=6
)


# Entries of the rule and test sections, built from strings that reach each check against
# helpers.BASE (tag:web, group:eng, db1, office = a CIDR host): well-formed ones mostly, so
# that documents hold both clean and faulty strings, repeated across entries.
SELECTORS = st.sampled_from(
    [
        "*",
        "tag:web",
        "tag:db",
        "tag:nope",
        "group:eng",
        "group:nope",
        "group:scim@example.com",
        "alice@example.com",
        " alice@example.com ",
        "user:*@example.com",
        "user:*@other.com",
        "autogroup:member",
        "autogroup:self",
        "autogroup:internet",
        "autogroup:danger-all",
        "autogroup:shared",
        "autogroup:bogus",
        "db1",
        "office",
        "nohost",
        "host:db1",
        "100.64.0.1",
        "fd7a::1",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "10.0.0.0/99",
        "1.2.3.1-1.2.3.4",
        "ipset:nope",
        "svc:web",
        "%bogus%",
        "",
    ]
)
PORTS = st.sampled_from(["22", "443", "*", "1-5", "80,443", "0", "65536", "ssh", "-1", "5-1", ""])
DESTINATIONS = st.one_of(
    st.builds(lambda sel, ports: f"{sel}:{ports}", SELECTORS, PORTS),
    st.sampled_from(["[fd7a::1]:22", "tag:web", "db1", "*", "tag:web:22:33", " tag:web:22 "]),
)
_PROTOS = st.sampled_from(["tcp", "udp", "icmp", "17", "256", "007", "bogus", ""])
_NON_STRINGS = st.sampled_from([None, 1, True, [], {}, ["tag:web:22"]])


def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda value: {key: value}))


def _entry_of(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


def _strings(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(values, values, values, _NON_STRINGS), max_size=4)


TEST_ENTRIES = _entry_of(
    _maybe("src", st.one_of(SELECTORS, _NON_STRINGS)),
    _maybe("user", SELECTORS),
    _maybe("proto", _PROTOS),
    _maybe("accept", _strings(DESTINATIONS)),
    _maybe("allow", _strings(DESTINATIONS)),
    _maybe("deny", _strings(DESTINATIONS)),
)
ACL_ENTRIES = _entry_of(
    _maybe("action", st.sampled_from(["accept", "deny", " accept"])),
    _maybe("src", _strings(SELECTORS)),
    _maybe("users", _strings(SELECTORS)),
    _maybe("dst", _strings(DESTINATIONS)),
    _maybe("ports", _strings(DESTINATIONS)),
    _maybe("proto", _PROTOS),
)
GRANT_ENTRIES = _entry_of(
    _maybe("src", _strings(SELECTORS)),
    _maybe("dst", _strings(st.one_of(SELECTORS, DESTINATIONS))),
    _maybe("ip", _strings(st.sampled_from(["*", "22", "tcp:443", "icmp:*", "icmp:22", "a:b:c"]))),
    _maybe("app", st.sampled_from([{"example.com/cap/x": [{}]}, {"tailscale.com/cap/x": []}])),
    _maybe("via", _strings(st.sampled_from(["tag:web", "tag:nope", "group:eng"]))),
)


def repeating(entries: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[Any]]:
    """A section drawn from a small pool of entries, so that strings and whole entries
    recur at several places (what per-string memos must get right)."""
    return st.lists(entries, min_size=1, max_size=4).flatmap(
        lambda pool: st.lists(st.sampled_from(pool), max_size=8)
    )
