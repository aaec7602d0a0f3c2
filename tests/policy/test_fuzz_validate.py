"""The validator never raises, whatever the document holds: bad input gets Problems."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.policy.schema import ENTRY_TYPES, TOP_LEVEL
from reconciler.policy.validate import validate_policy
from reconciler.problems import Problem

# Strings that reach the interesting parsers: selectors, ports, protos, durations, postures.
_WORDS = st.sampled_from(
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
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(), _WORDS)
_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_WORDS, st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=12,
)
_FIELD_NAMES = sorted({name for fields in ENTRY_TYPES.values() for name in fields})


def _entry() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES, max_size=5)


_SECTION_VALUES = st.one_of(
    _VALUES,
    st.lists(_entry(), max_size=3),
    st.dictionaries(_WORDS, st.lists(_WORDS, max_size=3), max_size=3),
    st.dictionaries(_WORDS, _entry(), max_size=2),
)
_DOCS = st.dictionaries(
    st.one_of(st.sampled_from(sorted(TOP_LEVEL)), _WORDS), _SECTION_VALUES, max_size=6
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS)
def test_validate_never_raises(doc: dict[str, Any]) -> None:
    problems = validate_policy(doc, tailnet_domains={"example.com"})
    assert all(isinstance(p, Problem) and p.message for p in problems)
