"""Fast reachability queries over compiled rules: "may these sources reach that dst:port?".

Engine layer (imports `addrset`, `compile`, `reconciler.inventory`). Tests ask the same
kind of question many times over large tailnets, so nothing here scans every rule per
question:

* every device address is a *point* with a small integer id; each distinct selector of
  the rules is resolved once and noted on the points it covers (a rule's src or dst is
  exactly the union of its selectors), so rules are found through their selectors;
* addresses that are no device's (IP literals, subnet hosts) are answered from the few
  selectors that reach beyond device addresses (CIDRs, hosts, `*`), then cached;
* rules are also indexed by port; a question's candidates are (rules reaching the dst)
  ∩ (rules opening the port), two C-level set intersections;
* a test src's devices are grouped by their selector signature: a candidate rule naming
  a selector *every* device has settles an accept at once, and no candidate naming a
  selector *any* device has settles a deny; only postures and autogroup:self need a
  per-device check.

Semantics are `policy-semantics.md` §2.4 (decision function) and §2.7 (∃ over dst
addresses of the same family as the source address).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.addrset import AddrSet, parse_ip
from reconciler.engine.compile import CompiledPolicy, Rule
from reconciler.inventory import Device

Point = tuple[int, int]  # (family, value)


@dataclass(frozen=True)
class Source:
    """One source of a query: a device (or a bare address) and its posture attributes."""

    v4: int | None
    v6: int | None
    device: Device | None = None
    attrs: Mapping[str, Any] | None = None  # None: not a tailnet device, posture-exempt

    def point(self, family: int) -> int | None:
        return self.v4 if family == 4 else self.v6


def source_of(device: Device, attrs: Mapping[str, Any] | None = None) -> Source:
    v4 = parse_ip(device.ipv4)[1] if device.ipv4 else None
    v6 = parse_ip(device.ipv6)[1] if device.ipv6 else None
    return Source(v4, v6, device, device.posture if attrs is None else attrs)


@dataclass
class Candidates:
    """Rules that could allow one (dst, port, protocols) question, per address family."""

    covered: dict[int, frozenset[int]]  # src selector ids of the posture-free candidates
    posture: dict[int, list[Rule]]  # posture-bound candidates: checked one by one

    @property
    def empty(self) -> bool:
        return not any(self.covered.values()) and not any(self.posture.values())


@dataclass
class SourceGroup:
    """Sources of one test src, grouped by their (IPv4, IPv6) src-selector signatures.

    `universal` holds selectors every source has (one candidate rule naming one lets all
    through); `union` those any source has (no candidate rule naming one: nobody gets
    through on posture-free rules).
    """

    sources: list[Source]
    # per signature: (src selectors holding its IPv4 / IPv6 point, members)
    signatures: list[tuple[frozenset[int], frozenset[int], list[Source]]]
    universal: tuple[frozenset[int], frozenset[int]]  # selectors holding every source
    union: tuple[frozenset[int], frozenset[int]]  # selectors holding some source


class _Lazy:
    """An identity selector's address set, built only if a non-device lookup needs it."""

    def __init__(self, resolve: Any, selector: str) -> None:
        self._resolve = resolve
        self._selector = selector
        self._addrs: AddrSet | None = None

    def contains_int(self, family: int, value: int) -> bool:
        if self._addrs is None:
            self._addrs = self._resolve(self._selector)
        return self._addrs.contains_int(family, value)


class _Side:
    """Selectors of one side (src or dst) of the rules, and the points each one covers."""

    def __init__(self, index: RuleIndex, resolve: Any) -> None:
        self.index = index
        self.resolve = resolve  # selector text -> AddrSet
        self.ids: dict[str, int] = {}
        self.addrs: list[AddrSet | _Lazy] = []
        self.outside: list[int] = []  # selectors that reach addresses of no device
        self.at: list[set[int]] = [set() for _ in range(len(index.pid))]
        self._lazy: dict[Point, frozenset[int]] = {}

    def id(self, selector: str) -> int:
        found = self.ids.get(selector)
        if found is None:
            found = self.ids[selector] = len(self.addrs)
            devices = self.index.compiled.resolver.identity_devices(selector)
            if devices is not None:  # an identity: exactly its devices' addresses
                pids = self.index.pid
                dp = self.index.device_points
                hits = [pids[p] for d in devices for p in dp[id(d)]]
                beyond = False
                self.addrs.append(_Lazy(self.resolve, selector))
            else:
                addrs = self.resolve(selector)
                self.addrs.append(addrs)
                hits, beyond = self.index.points_in(addrs)
            at = self.at
            for pid in hits:
                at[pid].add(found)
            if beyond:
                self.outside.append(found)
        return found

    def selectors_at(self, point: Point) -> set[int] | frozenset[int]:
        pid = self.index.pid.get(point)
        if pid is not None:
            return self.at[pid]
        found = self._lazy.get(point)
        if found is None:
            fam, value = point
            found = self._lazy[point] = frozenset(
                i for i in self.outside if self.addrs[i].contains_int(fam, value))
        return found


class RuleIndex:
    """Selector-level index of a compiled policy's network rules.

    A rule's src (dst) is exactly the union of its selectors' address sets, so "is this
    address in the rule's src" is "does some selector covering this address belong to
    the rule". Each distinct selector is resolved and spread over the device points
    once, however many rules use it.
    """

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        resolver = compiled.resolver
        self.rules: list[Rule] = [r for r in compiled.rules if not r.self_dst]
        self.self_rules: list[Rule] = [r for r in compiled.rules if r.self_dst]
        self.allow_all = compiled.allow_all
        self.owner: dict[Point, Device] = {}
        # per device (by identity): its points and its Source, parsed once
        self.device_points: dict[int, tuple[Point, ...]] = {}
        self._sources: dict[int, Source] = {}
        for d in compiled.inventory.devices:
            points = tuple(parse_ip(ip) for ip in d.addresses)
            self.device_points[id(d)] = points
            for p in points:
                self.owner.setdefault(p, d)
        # point ids: 0..n-1 over (family, value), sorted per family for bisect
        self.pid: dict[Point, int] = {}
        self._values: dict[int, list[int]] = {}
        self._ids: dict[int, list[int]] = {}
        for fam in (4, 6):
            values = sorted(v for f, v in self.owner if f == fam)
            self._values[fam] = values
            self._ids[fam] = [self.pid.setdefault((fam, v), len(self.pid)) for v in values]
        self.src = _Side(self, lambda s: resolver.src(s).addrs)
        self.dst = _Side(self, lambda s: resolver.dst(s).addrs)
        self.rule_src: list[frozenset[int]] = []
        self.by_dst: list[list[int]] = []  # dst selector id -> rule ids
        for i, rule in enumerate(self.rules):
            self.rule_src.append(frozenset(self.src.id(s) for s in rule.src_sel))
            for s in rule.dst_sel:
                sid = self.dst.id(s)
                while len(self.by_dst) <= sid:
                    self.by_dst.append([])
                self.by_dst[sid].append(i)
        self.posture_rules = frozenset(i for i, r in enumerate(self.rules) if r.posture)
        # port -> rules naming it among few ports; rules with wide port ranges apart
        self._by_port: dict[int, list[int]] = {}
        self._ranged: list[int] = []
        for i, rule in enumerate(self.rules):
            if any(b - a > 64 for a, b in rule.ports):
                self._ranged.append(i)
                continue
            for a, b in rule.ports:
                for port in range(a, b + 1):
                    self._by_port.setdefault(port, []).append(i)
        self._port_rules: dict[tuple[int, frozenset[int]], frozenset[int]] = {}
        self._cache: dict[tuple[Any, ...], Candidates] = {}
        self._dst_cache: dict[Any, tuple[frozenset[int], ...]] = {}

    def points_of(self, devices: Sequence[Device]) -> list[Point]:
        """Sorted distinct addresses of `devices` (inventory devices)."""
        dp = self.device_points
        return sorted({p for d in devices for p in dp[id(d)]})

    def source(self, device: Device, attrs: Mapping[str, Any] | None = None) -> Source:
        """The Source for an inventory device (cached when it uses the device's posture)."""
        if attrs is not None:
            return source_of(device, attrs)
        found = self._sources.get(id(device))
        if found is None:
            found = self._sources[id(device)] = source_of(device)
        return found

    def points_in(self, addrs: AddrSet) -> tuple[list[int], bool]:
        """Ids of the device points inside `addrs`, and whether it reaches beyond them."""
        hits: list[int] = []
        beyond = False
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            values, ids = self._values[fam], self._ids[fam]
            for a, b in intervals:
                if a == b:
                    pid = self.pid.get((fam, a))
                    if pid is None:
                        beyond = True
                    else:
                        hits.append(pid)
                    continue
                lo = bisect_left(values, a)
                hi = bisect_right(values, b)
                if hi - lo != b - a + 1:
                    beyond = True
                hits.extend(ids[lo:hi])
        return hits, beyond

    def port_rules(self, port: int, protos: frozenset[int]) -> frozenset[int]:
        key = (port, protos)
        found = self._port_rules.get(key)
        if found is None:
            rules = self.rules
            found = self._port_rules[key] = frozenset(
                i for i in (*self._by_port.get(port, ()), *self._ranged)
                if any(rules[i].allows_port(p, port) for p in protos))
        return found

    # --- questions ----------------------------------------------------------------------

    def _dst_rules(self, dst: Sequence[Point], key: Any) -> tuple[frozenset[int], ...]:
        """Rule ids whose dst holds some address of `dst`, per family (4, 6); cached."""
        found = self._dst_cache.get(key)
        if found is None:
            per_fam: list[frozenset[int]] = []
            for fam in (4, 6):
                sels: set[int] = set()
                for p in dst:
                    if p[0] == fam:
                        sels.update(self.dst.selectors_at(p))
                ids: set[int] = set()
                for sid in sels:
                    ids.update(self.by_dst[sid])
                per_fam.append(frozenset(ids))
            found = self._dst_cache[key] = tuple(per_fam)
        return found

    def candidates(self, dst: Sequence[Point], port: int, protos: frozenset[int],
                   key: Any = None) -> Candidates:
        """Candidate rules for a question; `key` names `dst` for caching (default: dst)."""
        dst_key = key if key is not None else tuple(dst)
        cache_key = (dst_key, port, protos)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        by_port = self.port_rules(port, protos)
        covered: dict[int, frozenset[int]] = {}
        posture: dict[int, list[Rule]] = {}
        for fam, fam_ids in zip((4, 6), self._dst_rules(dst, dst_key), strict=True):
            ids = fam_ids & by_port
            bound = ids & self.posture_rules
            srcs: set[int] = set()
            for i in ids - bound if bound else ids:
                srcs.update(self.rule_src[i])
            covered[fam] = frozenset(srcs)
            posture[fam] = [self.rules[i] for i in sorted(bound)]
        found = self._cache[cache_key] = Candidates(covered, posture)
        return found

    def allowed(self, src: Source, dst: Sequence[Point], port: int,
                protos: frozenset[int]) -> bool:
        """∃ dst address of the source's family, ∃ rule: the source reaches it on port/proto."""
        if self.allow_all:
            return True
        return self._allowed(src, self.candidates(dst, port, protos), dst, port, protos)

    def group(self, sources: Sequence[Source]) -> SourceGroup:
        """The sources of one test src, with the selector sets the fast paths need."""
        sigs: dict[tuple[frozenset[int], frozenset[int]], list[Source]] = {}
        for s in sources:
            sig = (frozenset(self.src.selectors_at((4, s.v4))) if s.v4 is not None
                   else frozenset(),
                   frozenset(self.src.selectors_at((6, s.v6))) if s.v6 is not None
                   else frozenset())
            sigs.setdefault(sig, []).append(s)
        keys = list(sigs)
        none: frozenset[int] = frozenset()
        return SourceGroup(
            list(sources),
            [(k[0], k[1], v) for k, v in sigs.items()],
            universal=(frozenset.intersection(*(k[0] for k in keys)) if keys else none,
                       frozenset.intersection(*(k[1] for k in keys)) if keys else none),
            union=(none.union(*(k[0] for k in keys)), none.union(*(k[1] for k in keys))),
        )

    def verdict(self, group: SourceGroup, dst: Sequence[Point], port: int,
                protos: frozenset[int], *, every: bool, key: Any = None) -> bool:
        """every=True: do all sources get through (accept)? False: does any (deny)?"""
        if not group.sources:
            return False
        if self.allow_all:
            return True
        by_port = self.port_rules(port, protos)
        if not by_port and not self.self_rules:
            return False  # no rule opens this port at all
        ids4, ids6 = self._dst_rules(dst, key if key is not None else tuple(dst))
        live4 = ids4 & by_port
        live6 = ids6 & by_port
        bound = None
        if self.posture_rules:
            bound = (live4 | live6) & self.posture_rules
            if bound:
                live4 = live4 - bound
                live6 = live6 - bound
        slow = bool(self.self_rules) or bool(bound)
        if not live4 and not live6 and not slow:
            return False
        rule_src = self.rule_src

        def hit(sel4: frozenset[int], sel6: frozenset[int]) -> bool:
            if sel4:
                for i in live4:
                    if not rule_src[i].isdisjoint(sel4):
                        return True
            if sel6:
                for i in live6:
                    if not rule_src[i].isdisjoint(sel6):
                        return True
            return False

        if every:
            if hit(*group.universal):
                return True
            for sel4, sel6, members in group.signatures:
                if hit(sel4, sel6):
                    continue
                if not slow:
                    return False
                cand = self.candidates(dst, port, protos, key)
                if not all(self._allowed(s, cand, dst, port, protos) for s in members):
                    return False
            return True
        if hit(*group.union):
            return True
        if not slow:
            return False
        cand = self.candidates(dst, port, protos, key)
        return any(self._allowed(s, cand, dst, port, protos) for s in group.sources)

    def count_allowed(self, srcs: Sequence[Source], dst: Sequence[Point], port: int,
                      protos: frozenset[int]) -> tuple[int, int]:
        """(allowed, total) over `srcs`, checking each source on its own."""
        if self.allow_all:
            return len(srcs), len(srcs)
        cand = self.candidates(dst, port, protos)
        return sum(self._allowed(s, cand, dst, port, protos) for s in srcs), len(srcs)

    def _allowed(self, src: Source, cand: Candidates, dst: Sequence[Point], port: int,
                 protos: frozenset[int]) -> bool:
        for fam in (4, 6):
            value = src.v4 if fam == 4 else src.v6
            if value is None:
                continue
            covered = cand.covered[fam]
            if covered and not self.src.selectors_at((fam, value)).isdisjoint(covered):
                return True
            for r in cand.posture[fam]:
                if r.src.contains_int(fam, value) and self._posture_ok(r, src):
                    return True
        return bool(self.self_rules) and self._self_allowed(src, dst, port, protos)

    def _posture_ok(self, rule: Rule, src: Source) -> bool:
        if rule.posture is None or src.attrs is None:
            return True  # addresses that are no tailnet device are not bound by posture
        return self.compiled.postures.satisfied(rule.posture, src.attrs)

    def _self_allowed(self, src: Source, dst: Sequence[Point], port: int,
                      protos: frozenset[int]) -> bool:
        for r in self.self_rules:
            if not any(r.allows_port(proto, port) for proto in protos):
                continue
            for fam in (4, 6):
                value = src.point(fam)
                if (value is not None and r.src.contains_int(fam, value)
                        and self._posture_ok(r, src) and self.self_allowed_by(r, src, dst, fam)):
                    return True
        return False

    def self_allowed_by(self, rule: Rule, src: Source, dst: Sequence[Point], fam: int) -> bool:
        """Whether `dst` holds an address (of `fam`) of the source's owner's untagged devices."""
        device = src.device
        if not rule.self_dst or device is None or device.tags or not device.user:
            return False
        user = device.user.lower()
        return any(
            p[0] == fam and (o := self.owner.get(p)) is not None and not o.tags
            and (o.user or "").lower() == user
            for p in dst
        )

    def allowing_rules(self, src: Source, dst: Sequence[Point], port: int,
                       protos: frozenset[int]) -> list[Rule]:
        """Every rule that allows the question (for explain); exhaustive, not indexed."""
        out: dict[int, Rule] = {}
        for rule in self.compiled.rules:
            if not any(rule.allows_port(proto, port) for proto in protos):
                continue
            if not self._posture_ok(rule, src):
                continue
            for fam in (4, 6):
                value = src.point(fam)
                if value is None or not rule.src.contains_int(fam, value):
                    continue
                if rule.self_dst:
                    if self.self_allowed_by(rule, src, dst, fam):
                        out[rule.index] = rule
                elif any(p[0] == fam and rule.dst.contains_int(*p) for p in dst):
                    out[rule.index] = rule
        return [out[k] for k in sorted(out)]
