"""The access diff's shortcuts against the plain computation, on random pairs of small
policies: unchanged rules found by spelling (selectors whose definitions did not change)
rather than by signature, a changed rule's sources cut by its twin's first, and a few
source devices cut point by point rather than by subtracting every blocking set (and,
when a rule's sources are a few device addresses, per address over all its rules at
once: `_cut_points`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import CompileError, SelectorError
from reconciler.diff.access import access_diff, compute
from tests.access.test_access_diff import inv
from tests.conftest import examples

INV = inv({"a@example.com": 1, "b@example.com": 2, "c@example.com": 1, "d@example.com": 0},
          {"tag:t1": 2, "tag:t2": 1, "tag:t3": 1})
USERS = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
TAGS = ["tag:t1", "tag:t2", "tag:t3"]
HOSTS = ["100.64.0.1", "100.64.0.2/31", "10.0.0.0/8"]
SELECTORS = [*USERS, *TAGS, "group:g1", "group:g2", "group:g3", "h1", "h2", "*",
             "autogroup:member", "100.64.0.3"]
IPS = ["*", "tcp:22", "443", "tcp:80-90", "udp:53"]


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    members = st.lists(st.sampled_from([*USERS, "tag:t3", "group:g1"]), max_size=3)
    groups = {"group:g1": draw(st.lists(st.sampled_from(USERS), max_size=3)),
              "group:g2": draw(members), "group:g3": draw(members)}
    owners = {t: [] for t in TAGS if t != "tag:t3" or draw(st.booleans())}
    hosts = {"h1": draw(st.sampled_from(HOSTS)), "h2": draw(st.sampled_from(HOSTS))}
    rule = st.fixed_dictionaries({
        "src": st.lists(st.sampled_from(SELECTORS), min_size=1, max_size=2),
        "dst": st.lists(st.sampled_from([*SELECTORS, "autogroup:self"]), min_size=1,
                        max_size=2),
        "ip": st.lists(st.sampled_from(IPS), min_size=1, max_size=2)})
    return {"groups": groups, "tagOwners": owners, "hosts": hosts,
            "grants": draw(st.lists(rule, max_size=4))}


def _outcome(before: dict[str, Any], after: dict[str, Any]) -> Any:
    try:
        return access_diff(before, after, INV)
    except CompileError as e:
        return str(e)


@settings(max_examples=examples(150), deadline=None)
@given(policies(), policies(), st.data())
def test_shortcuts_agree_with_the_plain_diff(before: dict[str, Any], after: dict[str, Any],
                                         data: st.DataObject) -> None:
    # Often the same rules over different definitions: the shortcut's case.
    if data.draw(st.booleans()):
        after = {**after, "grants": before["grants"]}
    fast = _outcome(before, after)
    with pytest.MonkeyPatch.context() as mp:
        # Every rule's signature compared whole (not `has_signature`'s early exits).
        mp.setattr(compute, "_unchanged", lambda rule, spelling, new, old, selectors:
                   new.signature(rule) in {old.signature(r) for r in old.compiled.rules})
        mp.setattr(compute, "_beyond_twins", lambda rule, spelling, src, dst, old:
                   (src, dst))
        mp.setattr(compute, "_FEW_POINTS", -1)  # every piece by subtracting source sets
        mp.setattr(compute, "_POINTWISE_KEYS", 0)  # destinations through the full index
        mp.setattr(compute.Side, "_members", lambda side, sel: None)  # address sets only
        mp.setattr(compute, "_ASKED", -1)  # cited rules found by their device points
        exact = _outcome(before, after)
    assert fast == exact


@settings(max_examples=examples(150), deadline=None)
@given(policies(), policies())
def test_unlisted_selectors_resolve_alike(before: dict[str, Any],
                                          after: dict[str, Any]) -> None:
    try:
        a = compute.Side(before, INV, None)
        b = compute.Side(after, INV, None)
    except CompileError:
        return
    selectors = compute.Selectors(a, b)
    for dst, used, changed in ((False, a.src_selectors | b.src_selectors,
                                selectors.changed_src),
                               (True, a.dst_selectors | b.dst_selectors,
                                selectors.changed_dst)):
        for s in used - changed:
            assert _resolved(a, s, dst) == _resolved(b, s, dst), s


def _resolved(side: compute.Side, selector: str, dst: bool) -> Any:
    try:
        return (side.resolver.dst(selector) if dst else side.resolver.src(selector)).addrs
    except SelectorError:
        return "error"


@settings(max_examples=examples(100), deadline=None)
@given(policies(), policies(), st.booleans())
def test_an_after_policy_compiled_beforehand_gives_the_same_diff(
        before: dict[str, Any], after: dict[str, Any], same_rules: bool) -> None:
    """plan hands over the desired policy compiled for its tests (`after_compiled`)."""
    from reconciler.engine import compile_policy

    if same_rules:
        after = {**after, "grants": before["grants"]}
    try:
        compiled = compile_policy(after, INV)
    except CompileError:
        return
    assert _outcome(before, after) == _shared(before, after, compiled)


def _shared(before: dict[str, Any], after: dict[str, Any], compiled: Any) -> Any:
    try:
        return access_diff(before, after, INV, after_compiled=compiled)
    except CompileError as e:
        return str(e)


def test_a_policy_compiled_over_another_inventory_is_not_used() -> None:
    from reconciler.engine import compile_policy

    before = {"grants": [{"src": ["a@example.com"], "dst": ["tag:t1"], "ip": ["*"]}],
              "tagOwners": {"tag:t1": []}}
    after = {"grants": [{"src": ["b@example.com"], "dst": ["tag:t1"], "ip": ["*"]}],
             "tagOwners": {"tag:t1": []}}
    other = inv({"a@example.com": 1}, {"tag:t1": 1})
    stale = compile_policy(before, other)  # the wrong policy, over the wrong inventory
    assert access_diff(before, after, INV, after_compiled=stale) == access_diff(
        before, after, INV)
    assert access_diff(before, after, INV).gained
