"""The indexed shadowed-rule and coverage checks agree with straightforward scans.

`reconciler.lint.rules` finds containers and covering rules through per-selector
indexes and set intersections; the references here scan every rule with the full set
tests (`_contains`, `_rule_hits`). Both run on seeded generated policies (the engine
benchmark's generator, small scale) with extra rules for the paths the generator does
not write: autogroup:self, `*`, CIDR sources, equal and narrower entries, IP tests.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.generate import Scale, generate
from reconciler.core.errors import ReconcilerError
from reconciler.core.source import PathKey, SourceMap
from reconciler.engine import inventory_from_data
from reconciler.engine.addrset import parse_ip
from reconciler.engine.compile import CompiledPolicy, compile_policy
from reconciler.lint.rules import (
    TCP_OR_UDP,
    RuleIndexes,
    _contains,
    _label,
    _Points,
    _rule_hits,
    _ssh_covered,
    ascending,
    bitset,
    coverage,
    shadowed,
)
from reconciler.validate.ports import parse_proto, split_acl_dst
from reconciler.validate.selectors import Kind, parse_selector

TINY = Scale("tiny", 60, 300, 60)


def reference_shadowed(compiled: CompiledPolicy) -> list[str]:
    """Every entry whose every tuple lies in some other entry's tuple: all rules scanned."""
    rules = [r for r in compiled.rules if r.path]
    order = {"acls": 0, "grants": 1}

    def rank(entry: PathKey) -> tuple[int, Any]:
        return order.get(str(entry[0]), 2), entry[1]

    entries: dict[PathKey, list[Any]] = defaultdict(list)
    for r in rules:
        entries[r.path[:2]].append(r)
    out = []
    for entry, members in entries.items():
        by: set[PathKey] = set()
        for small in members:
            if not small.src or (not small.self_dst and not small.dst):
                break
            found = next((big.path[:2] for big in rules
                          if big.path[:2] != entry and _contains(big, small)
                          and not (_contains(small, big) and rank(big.path[:2]) > rank(entry))),
                         None)
            if found is None:
                break
            by.add(found)
        else:
            if by:
                where = ", ".join(f"{_label(e)} (?)" for e in sorted(by, key=rank))
                out.append(f"{_label(entry)} gives no access that {where} does not already give")
    return out


def reference_covered(policy: Mapping[str, Any], compiled: CompiledPolicy) -> set[PathKey]:
    """Entries with a tuple that allows some accept assertion: every rule, every assertion."""
    resolver = compiled.resolver
    pts = _Points(compiled)
    rules = [r for r in compiled.rules if r.path]

    def points(text: str) -> list[tuple[tuple[int, int], ...]]:
        try:
            sel = parse_selector(text)
            if sel.kind in (Kind.HOST, Kind.IP):
                ip = resolver.hosts.get(sel.value, sel.value) if sel.kind is Kind.HOST \
                    else sel.value
                return [(parse_ip(ip),)]
            devices = resolver.identity_devices(text) or []
        except (ReconcilerError, ValueError):
            return []
        return [tuple(parse_ip(ip) for ip in d.addresses) for d in devices]

    covered: set[PathKey] = set()
    for test in policy.get("tests") or []:
        srcs = points(str(test.get("src", test.get("user", ""))).strip())
        try:
            proto = parse_proto(str(test["proto"])) if test.get("proto") else None
        except ValueError:
            continue
        protos = TCP_OR_UDP if proto is None else frozenset({proto})
        for text in test.get("accept", test.get("allow")) or []:
            host, port_text = split_acl_dst(str(text))
            if not port_text.isdigit():
                continue
            dsts = [p for device in points(host.strip()) for p in device]
            for r in rules:
                if any(r.allows_port(p, int(port_text)) for p in protos) \
                        and _rule_hits(r, srcs, dsts, pts):
                    covered.add(r.path[:2])
    return covered | _ssh_covered(policy, compiled)


def with_extras(policy: dict[str, Any], inventory_data: dict[str, Any]) -> dict[str, Any]:
    """The generated policy plus rules and tests for the paths it does not exercise."""
    out = copy.deepcopy(policy)
    user = inventory_data["devices"][0]["user"]
    some = out["grants"][0]
    out["grants"] += [
        copy.deepcopy(some),  # an equal entry: only the later one is shadowed
        {**copy.deepcopy(some), "ip": [some["ip"][0]]},  # narrower ports
        {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["tcp:22"]},
        {"src": [user], "dst": ["autogroup:self"], "ip": ["tcp:22"]},  # inside the above
        {"src": ["*"], "dst": ["net0"], "ip": ["*"]},  # reaches beyond device addresses
        {"src": ["10.0.0.0/16"], "dst": ["tag:t0"], "ip": ["443"]},
        {"src": ["group:g0"], "dst": ["net0"], "ip": ["tcp:80"]},  # inside the `*` grant
    ]
    out["acls"].append({"action": "accept", "src": ["*"], "dst": ["autogroup:self:*"]})
    out["tests"] += [
        {"src": user, "accept": [f"{user}:22"]},
        {"src": "10.0.3.4", "accept": ["tag:t0:443"]},
        {"src": "group:g1", "accept": ["10.0.9.9:80"], "proto": "tcp"},
        {"src": " group:g2 ", "accept": [" tag:t1:443", "tag:t1:*"]},  # spaces, no port
        {"src": user, "accept": [f"{user}:22"], "proto": "bogus"},  # skipped as a whole
    ]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("extras", [False, True])
def test_indexed_checks_match_the_straightforward_scans(seed: int, extras: bool) -> None:
    policy, inventory_data = generate(TINY, seed)
    if extras:
        policy = with_extras(policy, inventory_data)
    compiled = compile_policy(policy, inventory_from_data(inventory_data))
    indexes = RuleIndexes(compiled)
    found = [f.message for f in shadowed(compiled, SourceMap(), indexes=indexes)]
    assert found == reference_shadowed(compiled)
    cov = coverage(policy, compiled, indexes=indexes)
    assert cov.covered == reference_covered(policy, compiled)
    # The comparison means something: both checks found things to agree on.
    assert found and cov.covered
    if extras:  # the autogroup:self rules were reached by both paths
        n = len(policy["grants"])
        assert ("grants", n - 5) in cov.covered
        assert any(m.startswith(f"grants[{n - 4}] ") for m in found)


@pytest.mark.parametrize("many", [1, 3, 10**9])
def test_shadowing_candidates_agree_whichever_selectors_keep_bitsets(
        many: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`shadowed` keeps a bitset only for selectors named by MANY_RULES rules or more and
    sets the bits of the others directly: every split (all kept, some, none) finds
    exactly what the plain scan finds."""
    from reconciler.lint import rules

    policy, inventory_data = generate(TINY, 2)
    compiled = compile_policy(with_extras(policy, inventory_data),
                              inventory_from_data(inventory_data))
    ix = RuleIndexes(compiled)
    sizes = [len(ids) for index in (ix.src, ix.dst) for ids in index.by_sel.values()]
    if many == 3:  # both kinds occur: the split is exercised
        assert min(sizes) < many <= max(sizes)
    monkeypatch.setattr(rules, "MANY_RULES", many)
    found = [f.message for f in shadowed(compiled, SourceMap(), indexes=ix)]
    assert found and found == reference_shadowed(compiled)


@pytest.mark.parametrize("seed", [1, 2])
def test_selector_holding_matches_the_full_set_test(seed: int) -> None:
    """`holds_all` with `holds_beyond` (for selectors reaching beyond devices) says
    exactly whether a rule's side holds all of a selector's addresses."""
    policy, inventory_data = generate(TINY, seed)
    compiled = compile_policy(with_extras(policy, inventory_data),
                              inventory_from_data(inventory_data))
    ix = RuleIndexes(compiled)
    checked = {True: 0, False: 0}
    for index, side in ((ix.src, "src"), (ix.dst, "dst")):
        for k, r in enumerate(ix.rules):
            if side == "dst" and r.self_dst:
                continue
            union = r.src if side == "src" else r.dst
            for sel in index.loose:
                fast = index.holds_all(k, sel) and index.holds_beyond(k, sel)
                assert fast == index.resolve(sel).issubset(union), (r.path, sel)
                checked[fast] += 1
    # Both answers occur: the comparison could have failed either way.
    assert checked[True] and checked[False]


@pytest.mark.parametrize("seed", [1, 3])
def test_device_points_of_a_set_are_the_shared_ones_in_address_order(seed: int) -> None:
    """`_Points.of` lists the device addresses inside a set, by family then address,
    as the owner map's own Point objects (not copies: a selector's list of them is kept
    for every selector of the policy)."""
    policy, inventory_data = generate(TINY, seed)
    compiled = compile_policy(with_extras(policy, inventory_data),
                              inventory_from_data(inventory_data))
    pts = _Points(compiled)
    shared = {p: p for p in pts.owner}
    checked = 0
    for sel in ["*", "autogroup:member", "group:g0", "tag:t0", "10.0.0.0/8",
                *inventory_data["devices"][0].values()]:
        try:
            addrs = compiled.resolver.src(str(sel)).addrs
        except ReconcilerError:
            continue
        plain = sorted(p for p in pts.owner if addrs.contains_int(*p))
        found = pts.of(addrs)
        assert found == plain
        assert all(p is shared[p] for p in found)
        checked += len(found)
    assert checked


@given(st.lists(st.integers(0, 3000), max_size=60))
def test_rule_bitsets_hold_exactly_their_ids_in_order(ids: list[int]) -> None:
    """The shadowing check's bitsets: built from ids, they yield those ids, lowest first,
    and `&` is the intersection of the id sets."""
    assert list(ascending(bitset(ids))) == sorted(set(ids))
    half = ids[::2]
    assert list(ascending(bitset(ids) & bitset(half))) == sorted(set(ids) & set(half))


def test_reference_check_leaves_no_selector_cache_behind() -> None:
    """The selector caches serve one pass: kept, a large policy's entries stayed alive
    through the heavier checks after it (lint's peak memory), and a second pass finds
    the same references."""
    from reconciler.core.source import SourceMap
    from reconciler.lint import references as refs

    policy, _ = generate(Scale("tiny", 40, 60, 30), 3)
    policy["acls"][0]["src"] = ["group:nope"]
    first = refs.check_references(policy, SourceMap())
    assert refs._named.cache_info().currsize == 0
    assert refs._named_in.cache_info().currsize == 0
    assert any(f.code == "undefined-group" for f in first)
    assert [f.message for f in refs.check_references(policy, SourceMap())] \
        == [f.message for f in first]


def test_shadowed_leaves_no_holding_answers_behind() -> None:
    """`shadowed` drops the indexes' holds_all/holds_beyond answers when done (kept, they
    sat under coverage's peak), and the same indexes give the same findings again."""
    policy, inventory_data = generate(TINY, 1)
    compiled = compile_policy(with_extras(policy, inventory_data),
                              inventory_from_data(inventory_data))
    ix = RuleIndexes(compiled)
    first = [f.message for f in shadowed(compiled, SourceMap(), indexes=ix)]
    assert first
    for index in (ix.src, ix.dst):
        assert not index._held and not index._beyond
    assert [f.message for f in shadowed(compiled, SourceMap(), indexes=ix)] == first
