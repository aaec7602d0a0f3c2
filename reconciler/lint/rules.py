"""Lint checks on the compiled rules: shadowed rules and test coverage.

lint/ (imports the engine's `compile`, `resolve`, `ssh`, `addrset`, the policy
parsers). Both checks use the engine's
compiled form, so they see what the rules mean over the inventory, not how they are
spelled:

* `shadowed-rule`: every (src, dst, ports, protocols) tuple an entry compiles to lies
  inside one tuple of another entry (the later of two equal entries is the shadowed one);
* `rule-untested`: no `tests` accept assertion (or `sshTests` accept/check user) is
  allowed by any tuple of the entry. Coverage is the share of entries that some
  assertion exercises.

Both work through one pair of indexes (`RuleIndexes`: device address -> the selectors
holding it, selector -> its rules) rather than the rules' address-set unions: a rule
holds a selector's devices when it names that selector or holds each of its device
addresses; a selector reaching beyond device addresses (CIDRs, `*`) is held when its
device addresses are and its other addresses lie in the rule's own such selectors.
tests/lint/test_fast_paths.py checks both against plain scans.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import reduce
from itertools import chain
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.source import PathKey, SourceMap
from reconciler.engine.addrset import EMPTY, AddrSet, parse_ip
from reconciler.engine.compile import CompiledPolicy, Rule
from reconciler.engine.resolve import device_addrs
from reconciler.engine.ssh import compile_ssh, user_matches
from reconciler.lint.findings import Finding
from reconciler.validate.ports import parse_proto, split_acl_dst
from reconciler.validate.selectors import Kind, parse_selector

TCP_OR_UDP = frozenset({6, 17})
Point = tuple[int, int]
MANY_RULES = 64  # a selector named by this many rules keeps a bitset of them (`shadowed`)
# The selectors holding some addresses, IPv4 and IPv6 apart: all that coverage needs to
# know of a test's source or destination.
Holders = tuple[frozenset[str], frozenset[str]]


@dataclass
class Coverage:
    """Which rule entries (``("grants", 3)``) some test exercises."""

    covered: set[PathKey] = field(default_factory=set)
    entries: list[PathKey] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.entries) if self.entries else 100.0

    def untested(self, names: Mapping[Any, str] | None = None) -> list[str]:
        """The entries no test exercises, as the findings name them (`grants[2] "web"`
        with `names`, else `grants[2]`)."""
        return [_label(e, names) for e in self.entries if e not in self.covered]

    def to_dict(self) -> dict[str, Any]:
        return {"covered": len(self.covered), "total": len(self.entries),
                "percent": round(self.percent, 1), "untested": self.untested()}


def _label(entry: PathKey, names: Mapping[Any, str] | None = None) -> str:
    name = (names or {}).get(entry)
    return f'{entry[0]}[{entry[1]}]' + (f' "{name}"' if name else "")


class _Points:
    """Device addresses of the inventory, for bisecting sets into points."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        devices = compiled.inventory.devices
        all_devices = self.all = device_addrs(devices)
        self.points = {fam: [a for a, b in iv for a in range(a, b + 1)]
                       for fam, iv in ((4, all_devices.v4), (6, all_devices.v6))}
        # Device (by identity: the inventory keeps them alive) -> its address points.
        self.of_device = {id(d): tuple(parse_ip(ip) for ip in d.addresses) for d in devices}
        self.owner = {p: d for d in devices for p in self.of_device[id(d)]}
        # Address -> its one Point object (the owner's key), and those in address order:
        # `of` hands out these rather than new tuples, as every selector's list of device
        # addresses holds one per device (186,000 tuples at 4x large).
        self.point_of: dict[int, dict[int, Point]] = {4: {}, 6: {}}
        for p in self.owner:
            self.point_of[p[0]][p[1]] = p
        self.in_order = {fam: [self.point_of[fam][a] for a in pts]
                         for fam, pts in self.points.items()}

    def of(self, addrs: AddrSet) -> list[Point]:
        out: list[Point] = []
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            pts, point_of = self.points[fam], self.point_of[fam]
            for a, b in intervals:
                if a == b:  # one address (devices are scattered): a lookup, not bisects
                    p = point_of.get(a)
                    if p is not None:
                        out.append(p)
                    continue
                lo, hi = bisect_left(pts, a), bisect_right(pts, b)
                if lo < hi:
                    out.extend(self.in_order[fam][lo:hi])
        return out


class _RuleIndex:
    """Device address -> ids of the rules whose src (or dst) holds it. Spread per
    *selector* (each resolved once), and the per-point rule sets built on first use, so
    wide selectors such as autogroup:member cost one pass, not one per rule."""

    def __init__(self, rules: list[Rule], pts: _Points, resolve: Any, dst: bool) -> None:
        by_sel: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rules):
            for sel in (r.dst_sel if dst else r.src_sel):
                by_sel[sel].append(i)
        self.rules = rules
        self.dst = dst
        self.resolve = resolve
        self.by_sel = dict(by_sel)
        self.sels_at: dict[Point, list[str]] = defaultdict(list)
        self.outside: set[int] = set()  # rules reaching addresses that are no device
        self.points: dict[str, list[Point]] = {}  # selector -> its device addresses
        self.loose: set[str] = set()  # selectors reaching addresses that are no device
        for sel, ids in self.by_sel.items():
            addrs = resolve(sel)
            points = self.points[sel] = pts.of(addrs)
            for p in points:
                self.sels_at[p].append(sel)
            if addrs.size() > len(points):
                self.outside.update(ids)
                self.loose.add(sel)
        # One object per distinct value: the devices of one user or tag hold the same
        # selectors, and rules written alike name the same ones (memory at 4x large).
        lists: dict[tuple[str, ...], list[str]] = {}
        for p, sels in self.sels_at.items():
            self.sels_at[p] = lists.setdefault(tuple(sels), sels)
        sets: dict[tuple[str, ...], frozenset[str]] = {}
        self.sel_sets: list[frozenset[str]] = []
        for r in rules:
            key = r.dst_sel if dst else r.src_sel
            found = sets.get(key)
            if found is None:
                found = sets[key] = frozenset(key)
            self.sel_sets.append(found)
        self._held: dict[tuple[frozenset[str], str], bool] = {}
        # Loose selector -> its addresses that are no device; (loose selectors of a rule,
        # selector) -> whether they hold those.
        self.beyond = {sel: resolve(sel) - pts.all for sel in self.loose}
        self._beyond: dict[tuple[frozenset[str], str], bool] = {}
        self.loose_union = reduce(operator.or_, (resolve(s) for s in self.loose), EMPTY)

    def selectors_of(self, points: list[Point], owner: Mapping[Point, Any]) -> frozenset[str]:
        """The selectors holding at least one of `points` (exactly: addresses that are no
        device are checked against the few selectors reaching beyond devices)."""
        sels: set[str] = set()
        for p in points:
            if p in owner:
                sels.update(self.sels_at.get(p, ()))
            elif self.loose_union.contains_int(*p):
                # Not cached per address: callers cache per selector text, and tests
                # name thousands of distinct addresses inside subnets.
                sels.update(s for s in self.loose if self.resolve(s).contains_int(*p))
        return frozenset(sels)

    def rules_of_selectors(self, sels: Iterable[str]) -> set[int]:
        """Ids of the rules whose side names one of `sels`."""
        found: set[int] = set()
        for s in sels:
            found.update(self.by_sel[s])
        return found

    def holds_all(self, k: int, sel: str) -> bool:
        """Whether rule `k`'s side holds every device address of selector `sel` (cached
        per selector set: rules written alike share the answer)."""
        mine = self.sel_sets[k]
        if sel in mine:
            return True
        key = (mine, sel)
        found = self._held.get(key)
        if found is None:
            # A plain loop, not all(<generator>): this runs over every device of `sel`.
            sels_at = self.sels_at
            found = True
            for p in self.points[sel]:
                if mine.isdisjoint(sels_at.get(p, ())):
                    found = False
                    break
            self._held[key] = found
        return found

    def holds_beyond(self, k: int, sel: str) -> bool:
        """Whether rule `k`'s side holds the addresses of loose selector `sel` that are no
        device. Only the side's own loose selectors reach such addresses (any other
        selector holds device addresses only), so their union decides; with
        `holds_all(k, sel)` this is exactly "the side holds all of `sel`"."""
        theirs = self.sel_sets[k] & self.loose
        key = (theirs, sel)
        found = self._beyond.get(key)
        if found is None:
            union = reduce(operator.or_, (self.resolve(s) for s in theirs), EMPTY)
            found = self._beyond[key] = self.beyond[sel].issubset(union)
        return found

    def forget_holding(self) -> None:
        """Drop the answers of `holds_all` and `holds_beyond`: only `shadowed` asks, and
        kept they would sit under coverage's peak (55,000 keys at 4x large)."""
        self._held.clear()
        self._beyond.clear()


class RuleIndexes:
    """The device points and both rule indexes of one compiled policy, built once and
    shared by `shadowed` and `coverage` (the rule list is the rules with a path)."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        resolver = compiled.resolver
        self.pts = _Points(compiled)
        self.rules = [r for r in compiled.rules if r.path]
        self.dst = _RuleIndex(self.rules, self.pts, lambda s: resolver.dst(s).addrs, dst=True)
        self.src = _RuleIndex(self.rules, self.pts, lambda s: resolver.src(s).addrs, dst=False)
        self.self_rules = {i for i, r in enumerate(self.rules) if r.self_dst}


def bitset(ids: Iterable[int]) -> int:
    """Ids as the bits of one int (bit i set: id i), built in one pass."""
    ids = list(ids)
    if not ids:
        return 0
    buf = bytearray((max(ids) >> 3) + 1)
    for i in ids:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


def ascending(bits: int) -> Iterator[int]:
    """The ids of a bitset, lowest first, lazily (callers mostly stop at the first)."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def _ports_in(inner: tuple[tuple[int, int], ...], outer: tuple[tuple[int, int], ...]) -> bool:
    if inner == outer or outer == ((0, 65535),):  # the common cases, without generators
        return True
    return all(any(c <= a and b <= d for c, d in outer) for a, b in inner)


def _fits(big: Rule, small: Rule) -> bool:
    """`_contains` but for the address sets: protocols, ports, posture, self."""
    if small.self_dst != big.self_dst or not small.protos <= big.protos:
        return False
    if big.posture is not None and big.posture != small.posture:
        return False
    return _ports_in(small.ports, big.ports)


def _contains(big: Rule, small: Rule) -> bool:
    if not _fits(big, small):
        return False
    return small.src.issubset(big.src) and (small.self_dst or small.dst.issubset(big.dst))


def shadowed(compiled: CompiledPolicy, sources: SourceMap,
             names: dict[PathKey, str] | None = None, *,
             indexes: RuleIndexes | None = None) -> list[Finding]:
    ix = indexes or RuleIndexes(compiled)
    rules, self_rules = ix.rules, ix.self_rules
    dst_index, src_index = ix.dst, ix.src
    order = {("acls", 0): 0, ("grants", 0): 1}
    entries: dict[PathKey, list[int]] = defaultdict(list)
    for i, r in enumerate(rules):
        entries[r.path[:2]].append(i)

    # Rules alike in what `_fits` reads (self, protocols, posture, ports): the ids of the
    # rules that can contain a rule of each such class, found once per class, so that
    # candidates failing `_fits` (most of them) drop out in one set intersection.
    classes: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(rules):
        classes[r.self_dst, r.protos, r.posture, r.ports].append(i)
    fit_ids: dict[tuple[Any, ...], int] = {}
    # Rule sets as bitsets (bit i: rule i), cached here so that they are freed before
    # coverage runs: a set of ids per device address list grew with rules times devices
    # (368 MB at 4x large), an int costs a bit per rule and `&` runs in C.
    # Only selectors named by many rules keep their own bitset: one of a few ids costs
    # as much as one of many (its length is the highest id), and there are thousands.
    sel_bits: dict[tuple[_RuleIndex, str], int] = {}
    at_bits: dict[tuple[_RuleIndex, tuple[str, ...]], int] = {}

    def at(index: _RuleIndex, point: Point) -> int:
        """The rules whose side holds `point`; per selector list (the devices of one
        user or tag share one)."""
        sels = tuple(index.sels_at.get(point, ()))
        found = at_bits.get((index, sels))
        if found is None:
            found = 0
            few: list[list[int]] = []
            for s in sels:
                ids = index.by_sel[s]
                if len(ids) < MANY_RULES:  # a user's or a tag's few rules: set directly
                    few.append(ids)
                    continue
                bits = sel_bits.get((index, s))
                if bits is None:
                    bits = sel_bits[index, s] = bitset(ids)
                found |= bits
            if few:
                found |= bitset(chain.from_iterable(few))
            at_bits[index, sels] = found
        return found

    self_bits = bitset(self_rules)
    outside = {index: bitset(index.outside) for index in (dst_index, src_index)}

    def fitting(small: Rule) -> int:
        key = (small.self_dst, small.protos, small.posture, small.ports)
        found = fit_ids.get(key)
        if found is None:
            found = fit_ids[key] = bitset(
                i for ids in classes.values() if _fits(rules[ids[0]], small) for i in ids)
        return found

    def rank(entry: PathKey) -> tuple[int, Any]:
        return order.get((str(entry[0]), 0), 2), entry[1]

    def sides(i: int) -> list[tuple[_RuleIndex, tuple[str, ...]]]:
        r = rules[i]
        return [(src_index, r.src_sel)] if r.self_dst else [
            (src_index, r.src_sel), (dst_index, r.dst_sel)]

    def contained(i: int, k: int) -> bool:
        """`_contains(rules[k], rules[i])`, selector by selector: a selector rule k also
        names is inside it; one of device addresses only is inside it when rule k holds
        each of them; one reaching beyond devices also needs its other addresses inside
        rule k's own such selectors (`holds_beyond`)."""
        if not _fits(rules[k], rules[i]):
            return False
        for index, sels in sides(i):
            theirs = index.sel_sets[k]
            for sel in sels:
                if sel in theirs:
                    continue
                if sel in index.loose and not index.holds_beyond(k, sel):
                    return False
                if not index.holds_all(k, sel):
                    return False
        return True

    def containers(i: int) -> Iterator[int] | None:
        """Ids of the rules containing rule `i`, ascending; None when it matches nothing.
        Candidates hold one device address of each side (or, for sides of no device at
        all, reach addresses that are no device); each is then checked exactly."""
        small = rules[i]
        firsts = []
        for index, sels in sides(i):
            first = next((index.points[sel][0] for sel in sels if index.points[sel]), None)
            if first is None and not any(sel in index.loose for sel in sels):
                return None  # an empty side matches nothing: not a shadowing question
            firsts.append(at(index, first) if first is not None else outside[index])
        cands = firsts[0] & (self_bits if small.self_dst else firsts[1]) & fitting(small)
        # Lazily, in ascending order: the caller mostly stops at the first container.
        return (k for k in ascending(cands) if rules[k].path[:2] != small.path[:2]
                and contained(i, k))

    findings: list[Finding] = []
    for entry, members in entries.items():
        by: set[PathKey] = set()
        ok = True
        for i in members:
            cands = containers(i)
            if cands is None:
                ok = False  # matches nothing in this inventory: not a shadowing question
                break
            found = None
            for k in cands:
                other = rules[k].path[:2]
                # Two equal entries: only the later one is reported as shadowed.
                if contained(k, i) and rank(other) > rank(entry):
                    continue
                found = other
                break
            if found is None:
                ok = False
                break
            by.add(found)
        if ok and by:
            where = ", ".join(f"{_label(e, names)} ({sources.at(e) or '?'})"
                              for e in sorted(by, key=rank))
            findings.append(Finding(
                "shadowed-rule", "warning",
                f"{_label(entry, names)} gives no access that {where} does not already give",
                sources.at(entry), "remove it, or narrow the other rule if this one is the "
                "intended grant"))
    src_index.forget_holding()
    dst_index.forget_holding()
    return findings


# --- coverage ----------------------------------------------------------------------------------


def _entries(policy: Mapping[str, Any], compiled: CompiledPolicy) -> list[PathKey]:
    seen = {r.path[:2] for r in compiled.rules if r.path}
    seen |= {("ssh", i) for i in range(len(policy.get("ssh") or []))}
    return sorted(seen, key=lambda e: (str(e[0]), e[1]))


def coverage(policy: Mapping[str, Any], compiled: CompiledPolicy, *,
             indexes: RuleIndexes | None = None) -> Coverage:
    """An entry is covered when some accept assertion (src, dst:port, proto) is allowed
    by one of its tuples. Sources and destinations are known by the selectors holding
    their addresses (`Holders`), so hosts alike share their work: per destination's
    holders, port and protocols, the uncovered rules reaching it (one union of
    per-selector rule lists, met with the rules opening the port); per assertion, those
    whose src names one of the source's holders, family by family. Only autogroup:self
    rules are checked one by one. An entry's result does not depend on which assertion
    covers it first."""
    cov = Coverage(entries=_entries(policy, compiled))
    ix = indexes or RuleIndexes(compiled)
    pts, rules, self_rules = ix.pts, ix.rules, ix.self_rules
    dst_index, src_index = ix.dst, ix.src
    resolver = compiled.resolver
    remaining = set(range(len(rules)))
    of_entry: dict[PathKey, list[int]] = defaultdict(list)
    for i, r in enumerate(rules):
        of_entry[r.path[:2]].append(i)
    src_cache: dict[str, list[tuple[Point, ...]]] = {}
    dst_cache: dict[str, list[Point]] = {}
    by_src: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # src -> selectors, v4/v6
    sel_sets = src_index.sel_sets
    # dst host -> the selectors holding one of its addresses (v4, v6). The rules reaching
    # a host follow from those alone, so hosts alike (the addresses tests name inside
    # one subnet, the devices of one user) share one key, one object, and the candidates
    # below are per key, not per host. No rule set is kept per host or key: one per host
    # came to 50 MB at 4x large, and each key's is needed for only a few ports.
    dst_keys: dict[str, Holders] = {}
    keys: dict[Holders, Holders] = {}
    # One object per distinct selector set, sources' and destinations' alike (a device's
    # IPv4 and IPv6 addresses are held by the same selectors).
    interned: dict[frozenset[str], frozenset[str]] = {}
    by_port: dict[tuple[int, frozenset[int]], set[int]] = {}  # rules opening the port
    # Rules alike in ports and protocols: (one of them, all their ids).
    by_ports: dict[tuple[Any, ...], tuple[Rule, list[int]]] = {}
    for i, r in enumerate(rules):
        by_ports.setdefault((r.ports, r.protos), (r, []))[1].append(i)
    asked: set[tuple[str, str, int, frozenset[int]]] = set()
    # accept entry as written -> (host, port), or () when it has no single port
    accept_cache: dict[str, tuple[str, int] | tuple[()]] = {}

    def selectors(index: _RuleIndex, points: list[Point]) -> Holders:
        """The selectors of `index` holding one of `points`, per family (v4, v6)."""
        v4 = index.selectors_of([p for p in points if p[0] == 4], pts.owner)
        v6 = index.selectors_of([p for p in points if p[0] == 6], pts.owner)
        return interned.setdefault(v4, v4), interned.setdefault(v6, v6)

    def dst_key(host: str) -> Holders:
        found = dst_keys.get(host)
        if found is None:
            # The points are not kept: only autogroup:self rules need them (`dst_points`).
            key = selectors(dst_index, _dst_points(host))
            found = dst_keys[host] = keys.setdefault(key, key)
        return found

    def sources_of(text: str) -> list[tuple[Point, ...]]:
        found = src_cache.get(text)
        if found is None:
            found = src_cache[text] = _sources_of(text)
        return found

    def _sources_of(text: str) -> list[tuple[Point, ...]]:
        """Each source device as its address points (a host or IP: one point)."""
        try:
            sel = parse_selector(text)
            if sel.kind in (Kind.HOST, Kind.IP):
                ip = resolver.hosts.get(sel.value, sel.value) if sel.kind is Kind.HOST \
                    else sel.value
                return [(parse_ip(ip),)]
            devices = resolver.identity_devices(text) or []
        except (ReconcilerError, ValueError):  # invalid tests are the test runner's business
            return []
        return [device_points(d) for d in devices]

    def device_points(d: Any) -> tuple[Point, ...]:
        found = pts.of_device.get(id(d))
        return found if found is not None else tuple(parse_ip(ip) for ip in d.addresses)

    def dst_points(host: str) -> list[Point]:
        found = dst_cache.get(host)
        if found is None:
            found = dst_cache[host] = _dst_points(host)
        return found

    def _dst_points(host: str) -> list[Point]:
        try:
            sel = parse_selector(host)
            if sel.kind in (Kind.HOST, Kind.IP):
                ip = resolver.hosts.get(sel.value, sel.value) if sel.kind is Kind.HOST \
                    else sel.value
                return [parse_ip(ip)]
            devices = resolver.identity_devices(host) or []
        except (ReconcilerError, ValueError):
            return []
        return [p for d in devices for p in device_points(d)]

    # (destination key, port, protocols) -> its candidate rules (see `_candidates`), and
    # the number of covered entries when they were last pruned.
    # Tuples, not lists: most are empty once coverage has grown, and tuple() is shared.
    by_target: dict[tuple[Holders, int, frozenset[int]],
                    tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]] = {}

    def _candidates(key: Holders, port: int, protos: frozenset[int]
                    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Uncovered rules reaching the destination `key` on the port: (v4, v6) non-self
        rules, and the autogroup:self rules (checked one by one, per host)."""
        v4, v6 = (dst_index.rules_of_selectors(sels) for sels in key)
        to_dst = (v4 - self_rules, v6 - self_rules)
        opening = by_port.get((port, protos))
        if opening is None:
            opening = by_port[port, protos] = set()
            for rep, ids in by_ports.values():
                if any(rep.allows_port(p, port) for p in protos):
                    opening.update(ids)
        # Smallest set first: `opening` and `remaining` can hold most rules.
        return (tuple(sorted(to_dst[0] & opening & remaining)),
                tuple(sorted(to_dst[1] & opening & remaining)),
                tuple(sorted(self_rules & opening & remaining)) if self_rules else ())

    for test in policy.get("tests") or []:
        if not remaining:
            break
        if not isinstance(test, Mapping):
            continue
        src_text = str(test.get("src", test.get("user", ""))).strip()
        from_src = by_src.get(src_text)
        if from_src is None:
            # The devices' points are kept (`sources_of`) only for autogroup:self rules.
            from_src = by_src[src_text] = selectors(
                src_index, [p for device_points in _sources_of(src_text)
                            for p in device_points])
        try:
            proto = parse_proto(str(test["proto"])) if test.get("proto") else None
        except ValueError:
            continue
        protos = TCP_OR_UDP if proto is None else frozenset({proto})
        for text in test.get("accept", test.get("allow")) or []:
            target = accept_cache.get(text) if isinstance(text, str) else None
            if target is None:
                host, port_text = split_acl_dst(str(text))
                target = (host.strip(), int(port_text)) if port_text.isdigit() else ()
                if isinstance(text, str):
                    accept_cache[text] = target
            if not target:
                continue
            host, port = target
            # Candidates per destination (its holders, port, protocols), shared by every
            # source asking about it, and pruned of covered rules whenever coverage grew.
            key = dst_key(host)
            tkey = (key, port, protos)
            cands = by_target.get(tkey)
            if cands is None:
                cands = by_target[tkey] = (*_candidates(key, port, protos), len(cov.covered))
            elif cands[3] != len(cov.covered):
                cands = by_target[tkey] = (
                    tuple(i for i in cands[0] if i in remaining),
                    tuple(i for i in cands[1] if i in remaining),
                    tuple(i for i in cands[2] if i in remaining), len(cov.covered))
            if not (cands[0] or cands[1] or cands[2]):
                continue  # every rule it could exercise is already covered
            question = (src_text, host, port, protos)
            if question in asked:
                continue  # the same assertion again: it covers nothing new
            asked.add(question)
            # A rule is hit when one of its src selectors holds a source address (of the
            # family); a hit covers its entry at once, so the entry's other rules drop out
            # of `remaining` (the covered set does not depend on the order).
            for held, family_rules in ((from_src[0], cands[0]), (from_src[1], cands[1])):
                if held:
                    for i in family_rules:
                        if i in remaining and not sel_sets[i].isdisjoint(held):
                            entry = rules[i].path[:2]
                            remaining.difference_update(of_entry[entry])
                            cov.covered.add(entry)
            if cands[2]:
                srcs, dsts = sources_of(src_text), dst_points(host)
                for i in cands[2]:
                    if i in remaining and _rule_hits(rules[i], srcs, dsts, pts):
                        entry = rules[i].path[:2]
                        remaining.difference_update(of_entry[entry])
                        cov.covered.add(entry)
    cov.covered |= _ssh_covered(policy, compiled)
    return cov


def _rule_hits(r: Rule, srcs: list[tuple[Point, ...]], dsts: list[Point], pts: _Points) -> bool:
    for device_points in srcs:
        for fam, value in device_points:
            if not r.src.contains_int(fam, value):
                continue
            if r.self_dst:
                me = pts.owner.get((fam, value))
                if me is not None and not me.tags and any(
                        f == fam and (o := pts.owner.get((f, v))) is not None and not o.tags
                        and o.user == me.user for f, v in dsts):
                    return True
            elif any(f == fam and r.dst.contains_int(f, v) for f, v in dsts):
                return True
    return False


def _ssh_covered(policy: Mapping[str, Any], compiled: CompiledPolicy) -> set[PathKey]:
    tests = policy.get("sshTests") or []
    if not tests or not policy.get("ssh"):
        return set()
    resolver = compiled.resolver
    try:
        ssh_rules = compile_ssh(policy, resolver)
    except ReconcilerError:
        return set()
    covered: set[PathKey] = set()
    for test in tests:
        if not isinstance(test, Mapping):
            continue
        try:
            srcs = resolver.identity_devices(str(test.get("src", "")).strip()) or []
            dsts = [d for t in test.get("dst") or []
                    for d in (resolver.identity_devices(str(t).strip()) or [])]
        except (ReconcilerError, ValueError):
            continue
        users = [str(u) for k in ("accept", "check") for u in (test.get(k) or [])]
        for rule in ssh_rules:
            if ("ssh", rule.index) in covered:
                continue
            for s in srcs:
                s_addrs = device_addrs([s])
                if not rule.src.overlaps(s_addrs):
                    continue
                if any((rule.dst.overlaps(device_addrs([d])) or (
                        rule.dst_self and not d.tags and not s.tags and d.user == s.user))
                       and any(user_matches(p, u, s) for p in rule.users for u in users)
                       for d in dsts):
                    covered.add(("ssh", rule.index))
                    break
    return covered


def untested(cov: Coverage, sources: SourceMap,
             names: dict[PathKey, str] | None = None) -> list[Finding]:
    return [Finding("rule-untested", "info",
                    f"{_label(e, names)} is not exercised by any test (no accept assertion is "
                    "allowed by it)", sources.at(e),
                    "add a tests (or sshTests) entry that this rule makes pass")
            for e in cov.entries if e not in cov.covered]
