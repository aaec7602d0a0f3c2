"""Fast reachability queries over compiled rules: "may these sources reach that dst:port?".

engine/ (imports `addrset`, `compile`, `posture`, `resolve`, `reconciler.core.inventory`).
Tests ask the same kind of question many times over large tailnets, so nothing in
`RuleIndex` scans every rule per question:

* every device address is a *point* with a small integer id; each distinct selector of
  the rules is resolved once and noted on the points it covers (a rule's src or dst is
  exactly the union of its selectors), so rules are found through their selectors;
* addresses that are no device's (IP literals, subnet hosts) are answered from the few
  selectors that reach beyond device addresses (CIDRs, hosts, `*`), then cached;
* rules are also indexed by (dst selector, port): a question (dst host, port) is
  answered by the src selectors of the rules of the few dst selectors holding the host,
  one share per (dst selector, port, protocols), built on first use;
* a test src's devices are grouped by their selector signature: an accept holds at once
  when the question's src selectors meet those *every* device has, a deny when they
  meet none of those *any* device has (one C-level `isdisjoint` each); only postures and
  autogroup:self need a per-device check.

The module ends with the plain evaluator that does scan every rule (`rule_allows`,
`scan_allowed`, `scan_allowing`): the one oracle the index is tested against.

Nothing in an index points back to it, so it is freed by reference counting as soon as
a run ends (a reference cycle would leave its hundreds of thousands of objects to a
collector pass).

Semantics are `policy-semantics.md` §2.4 (decision function) and §2.7 (∃ over dst
addresses of the same family as the source address).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from reconciler.core.inventory import Device
from reconciler.engine.addrset import AddrSet, Interval, parse_ip
from reconciler.engine.compile import CompiledPolicy, Rule
from reconciler.engine.posture import Postures
from reconciler.engine.resolve import Resolver

Point = tuple[int, int]  # (family, value)
_value = itemgetter(1)  # a point's value: sorting by it compares ints, not tuples
_NONE: frozenset[int] = frozenset()
_Parts = tuple[frozenset[int], ...]  # sets standing for their union


def _union(sets: list[frozenset[int]]) -> frozenset[int]:
    """The union of `sets`, itself when they are all one (the devices of a tag or a
    user share theirs: see `_Side.freeze`), rather than a copy per question."""
    distinct = set(sets)  # frozensets cache their hash: cheap
    return distinct.pop() if len(distinct) == 1 else _NONE.union(*distinct)


def _meets(parts: _Parts, selectors: frozenset[int]) -> bool:
    """Whether the union of `parts` holds one of `selectors` (without building it)."""
    for part in parts:  # noqa: SIM110 (a loop: no generator per call on the hot path)
        if not part.isdisjoint(selectors):
            return True
    return False


@dataclass(frozen=True, slots=True)  # slots: one per device of a tailnet
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


@dataclass(slots=True)  # slots: one per distinct test src
class SourceGroup:
    """Sources of one test src, grouped by their (IPv4, IPv6) src-selector signatures.

    `universal` holds selectors every source has (one candidate rule naming one lets all
    through); `union` those any source has (no candidate rule naming one: nobody gets
    through on posture-free rules). Verdicts past those two checks are cached per
    question: tests repeat them.
    """

    sources: Sequence[Source]
    # per signature: (src selectors holding its IPv4 / IPv6 point, members)
    signatures: list[tuple[frozenset[int], frozenset[int], Sequence[Source]]]
    universal: tuple[frozenset[int], frozenset[int]]  # selectors holding every source
    union: tuple[frozenset[int], frozenset[int]]  # selectors holding some source
    verdicts: dict[tuple[Any, ...], bool] = field(default_factory=dict)


class _Lazy:
    """An identity selector's address set, built only if a non-device lookup needs it."""

    def __init__(self, resolve: Callable[[str], AddrSet], selector: str) -> None:
        self._resolve = resolve
        self._selector = selector
        self._addrs: AddrSet | None = None

    def contains_int(self, family: int, value: int) -> bool:
        if self._addrs is None:
            self._addrs = self._resolve(self._selector)
        return self._addrs.contains_int(family, value)


class _Points:
    """Every device address as a *point* with a small integer id, and who owns it.

    Ids run 0..n-1 over (family, value), sorted per family, so an interval of addresses
    is a slice of ids (found by bisect).
    """

    def __init__(self, devices: Sequence[Device]) -> None:
        self.owner: dict[Point, Device] = {}
        # per device (by identity): its points, parsed once
        self.device_points: dict[int, tuple[Point, ...]] = {}
        owner = self.owner
        for d in devices:
            points = tuple(parse_ip(ip) for ip in (d.ipv4, d.ipv6) if ip)
            self.device_points[id(d)] = points
            for p in points:
                if p not in owner:
                    owner[p] = d
        self.pid: dict[Point, int] = {}
        self.values: dict[int, list[int]] = {}
        self.ids: dict[int, range] = {}  # a range, not a list: no int object per point
        for fam in (4, 6):
            # the owner's own point tuples as keys: new (fam, v) pairs would double them
            keys = sorted([p for p in owner if p[0] == fam], key=_value)
            values = [v for _, v in keys]
            first = len(self.pid)
            self.values[fam] = values
            self.ids[fam] = range(first, first + len(values))
            self.pid.update(zip(keys, self.ids[fam], strict=True))
        pid = self.pid
        self.device_pids: dict[int, tuple[int, ...]] = {
            k: tuple([pid[p] for p in points]) for k, points in self.device_points.items()}

    def points_in(self, addrs: AddrSet) -> tuple[list[int], bool]:
        """Ids of the device points inside `addrs`, and whether it reaches beyond them."""
        hits: list[int] = []
        beyond = False
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            values, ids = self.values[fam], self.ids[fam]
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


class DeviceAddresses:
    """Every device's addresses, parsed once: who owns an address, and the `Source` a
    device stands for. What parsing a test's src and dst needs (and all `explain`
    needs besides a scan of the rules); `RuleIndex` builds on it."""

    def __init__(self, devices: Sequence[Device]) -> None:
        self.points = _Points(devices)
        self.owner = self.points.owner
        self.device_points = self.points.device_points
        self._sources: dict[int, Source] = {}  # per device (by identity), when unchanged

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
            points = self.device_points[id(device)]  # (ipv4, ipv6) as parsed, when set
            found = self._sources[id(device)] = Source(
                points[0][1] if device.ipv4 else None, points[-1][1] if device.ipv6 else None,
                device, device.posture)
        return found


class _Side:
    """Selectors of one side (src or dst) of the rules, and the points each one covers."""

    def __init__(self, points: _Points, resolver: Resolver,
                 resolve: Callable[[str], AddrSet]) -> None:
        self.points = points
        self.resolver = resolver
        self.resolve = resolve  # selector text -> AddrSet
        self.ids: dict[str, int] = {}
        self.addrs: list[AddrSet | _Lazy] = []
        self.outside: list[int] = []  # selectors that reach addresses of no device
        # per point id: the selectors covering it (None: none); lists while selectors are
        # added (in id order), then one shared frozenset per distinct list (`freeze`)
        self.at: list[list[int] | frozenset[int] | None] = [None] * len(points.pid)
        self._lazy: dict[Point, frozenset[int]] = {}

    def freeze(self) -> None:
        """Once every selector is in: each point's set as a frozenset shared by every
        point with the same selectors (devices of one user or tag are covered alike).
        A fraction of the memory (a set per device address was a third of an index),
        and the signatures built from them (`RuleIndex.signature`) are the same objects."""
        shared: dict[tuple[int, ...], frozenset[int]] = {}
        get = shared.get
        at = self.at
        for pid, here in enumerate(at):
            if here is not None:
                key = tuple(here)
                found = get(key)
                if found is None:
                    found = shared[key] = frozenset(key)
                at[pid] = found

    def id(self, selector: str) -> int:
        found = self.ids.get(selector)
        if found is None:
            found = self.ids[selector] = len(self.addrs)
            devices = self.resolver.identity_devices(selector)
            if devices is not None:  # an identity: exactly its devices' addresses
                dp = self.points.device_pids
                hits = [pid for d in devices for pid in dp[id(d)]]
                beyond = False
                self.addrs.append(_Lazy(self.resolve, selector))
            else:
                addrs = self.resolve(selector)
                self.addrs.append(addrs)
                hits, beyond = self.points.points_in(addrs)
            at = self.at
            for pid in hits:
                here = at[pid]
                if here is None:
                    at[pid] = [found]
                else:
                    here.append(found)  # type: ignore[union-attr]  # a list until `freeze`
            if beyond:
                self.outside.append(found)
        return found

    def selectors_at(self, point: Point) -> frozenset[int]:
        pid = self.points.pid.get(point)
        if pid is not None:
            return self.at[pid] or _NONE  # type: ignore[return-value]  # frozen: see `freeze`
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

    def __init__(self, compiled: CompiledPolicy,
                 addresses: DeviceAddresses | None = None) -> None:
        """`addresses`: of `compiled.inventory`'s devices, when already parsed."""
        self.compiled = compiled
        resolver = compiled.resolver
        self.rules: list[Rule] = [r for r in compiled.rules if not r.self_dst]
        self.self_rules: list[Rule] = [r for r in compiled.rules if r.self_dst]
        self.allow_all = compiled.allow_all
        if addresses is None:
            addresses = DeviceAddresses(compiled.inventory.devices)
        points = addresses.points
        self.owner = addresses.owner
        self.device_points = addresses.device_points
        self.pid = points.pid
        self.points_in = points.points_in
        self.points_of = addresses.points_of
        self.source = addresses.source
        self.src = _Side(points, resolver, lambda s: resolver.src(s).addrs)
        self.dst = _Side(points, resolver, lambda s: resolver.dst(s).addrs)
        self.rule_src: list[frozenset[int]] = []
        self.by_dst: list[list[int]] = []  # dst selector id -> rule ids
        # port -> rules naming it among few ports; rules with wide port ranges apart. The
        # same per dst selector: (dst selector id, port) -> rules, dst selector -> ranged.
        self._by_port: dict[int, list[int]] = {}
        self._ranged: list[int] = []
        self._at_port: dict[tuple[int, int], list[int]] = {}
        self._ranged_at: dict[int, list[int]] = {}
        src_id, dst_id = self.src.id, self.dst.id
        by_port, at_port, by_dst = self._by_port, self._at_port, self.by_dst
        # rules of one ACL row or grant share their selector and port tuples
        src_ids: dict[tuple[str, ...], frozenset[int]] = {}
        expanded: dict[tuple[Interval, ...], list[int] | None] = {}  # None: ranged
        for i, rule in enumerate(self.rules):
            sids = src_ids.get(rule.src_sel)
            if sids is None:
                sids = src_ids[rule.src_sel] = frozenset([src_id(s) for s in rule.src_sel])
            self.rule_src.append(sids)
            ports = expanded.get(rule.ports, ())
            if ports == ():
                ports = expanded[rule.ports] = None if any(
                    b - a > 64 for a, b in rule.ports) else [
                    p for a, b in rule.ports for p in range(a, b + 1)]
            if ports is None:
                self._ranged.append(i)
            else:
                for port in ports:
                    found = by_port.get(port)
                    if found is None:
                        by_port[port] = [i]
                    else:
                        found.append(i)
            for s in rule.dst_sel:
                sid = dst_id(s)
                if sid == len(by_dst):
                    by_dst.append([])
                by_dst[sid].append(i)
                if ports is None:
                    self._ranged_at.setdefault(sid, []).append(i)
                    continue
                for port in ports:
                    found = at_port.get((sid, port))
                    if found is None:
                        at_port[(sid, port)] = [i]
                    else:
                        found.append(i)
        self.src.freeze()
        self.dst.freeze()
        self.posture_rules = frozenset(i for i, r in enumerate(self.rules) if r.posture)
        self._port_rules: dict[tuple[int, frozenset[int]], frozenset[int]] = {}
        self._cache: dict[tuple[Any, ...], Candidates] = {}
        self._dst_cache: dict[Any, tuple[frozenset[int], ...]] = {}
        self._host_sels: dict[Any, tuple[frozenset[int], frozenset[int]]] = {}
        # per (port, protos): per dst selector id, its share of a question (see _reach_of)
        self._reach: dict[tuple[int, frozenset[int]],
                          list[tuple[_Parts, _Parts, bool] | None]] = {}
        self._live: dict[tuple[Any, ...], tuple[_Parts, _Parts, bool]] = {}

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

    def _dst_selectors(self, dst: Sequence[Point], key: Any
                       ) -> tuple[frozenset[int], frozenset[int]]:
        """Dst selectors holding some address of `dst`, per family (4, 6); cached.

        The two are one object when equal (as for identities, whose selectors cover
        both addresses of a device), so later steps can do the work once.
        """
        found = self._host_sels.get(key)
        if found is None:
            get, at, elsewhere = self.pid.get, self.dst.at, self.dst.selectors_at
            per_fam: dict[int, list[frozenset[int]]] = {4: [], 6: []}
            for p in dst:
                pid = get(p)
                here = at[pid] if pid is not None else elsewhere(p)
                if here:
                    per_fam[p[0]].append(here)  # type: ignore[arg-type]  # frozen
            sels4, sels6 = _union(per_fam[4]), _union(per_fam[6])
            found = self._host_sels[key] = (sels4, sels4 if sels6 == sels4 else sels6)
        return found

    def _dst_rules(self, dst: Sequence[Point], key: Any) -> tuple[frozenset[int], ...]:
        """Rule ids whose dst holds some address of `dst`, per family (4, 6); cached."""
        found = self._dst_cache.get(key)
        if found is None:
            by_dst = self.by_dst
            found = self._dst_cache[key] = tuple(
                frozenset().union(*[by_dst[sid] for sid in sels])
                for sels in self._dst_selectors(dst, key))
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

    def signature(self, src: Source) -> tuple[frozenset[int], frozenset[int]]:
        """The src selectors holding the source's IPv4 and IPv6 address: the frozensets
        the src side shares between points (`_Side.freeze`), so nothing to cache."""
        at = self.src.selectors_at
        return (at((4, src.v4)) if src.v4 is not None else _NONE,
                at((6, src.v6)) if src.v6 is not None else _NONE)

    def group(self, sources: Sequence[Source]) -> SourceGroup:
        """The sources of one test src, with the selector sets the fast paths need."""
        sigs: dict[tuple[frozenset[int], frozenset[int]], list[Source]] = {}
        none: frozenset[int] = _NONE
        signature = self.signature
        for s in sources:
            sig = signature(s)
            members = sigs.get(sig)
            if members is None:
                sigs[sig] = [s]
            else:
                members.append(s)
        keys = list(sigs)
        if len(keys) == 1:  # the signature is its own intersection and union: no copies
            return SourceGroup(sources, [(*keys[0], sources)], keys[0], keys[0])
        return SourceGroup(
            list(sources),
            [(k[0], k[1], v) for k, v in sigs.items()],
            universal=(frozenset.intersection(*(k[0] for k in keys)) if keys else none,
                       frozenset.intersection(*(k[1] for k in keys)) if keys else none),
            union=(none.union(*(k[0] for k in keys)), none.union(*(k[1] for k in keys))),
        )

    def _live_rules(self, dst: Sequence[Point], key: Any, port: int, protos: frozenset[int]
                    ) -> tuple[_Parts, _Parts, bool]:
        """The src selectors of the posture-free rules that reach `dst` (per family 4, 6)
        on port/protos, as sets whose union they are (see `_meets`), and whether
        posture-bound rules reach it too; cached per question.

        Built from the shares of the dst selectors holding `dst` (most hosts have one).
        """
        qkey = (key, port, protos)
        found = self._live.get(qkey)
        if found is not None:
            return found
        sels4, sels6 = self._host_sels.get(key) or self._dst_selectors(dst, key)
        rkey = (port, protos)
        reach = self._reach.get(rkey)
        if reach is None:
            reach = self._reach[rkey] = [None] * len(self.by_dst)
        if sels6 is sels4 and len(sels4) == 1:
            (sid,) = sels4
            found = reach[sid] or self._reach_of(reach, sid, port, protos)
        else:
            # The shares themselves, not their union: a question asked once or twice
            # does not pay for a set of its own (a tenth of a large run's memory).
            parts4 = [reach[sid] or self._reach_of(reach, sid, port, protos) for sid in sels4]
            parts6 = parts4 if sels6 is sels4 else [
                reach[sid] or self._reach_of(reach, sid, port, protos) for sid in sels6]
            src4 = tuple([p[0][0] for p in parts4 if p[0]])
            src6 = src4 if parts6 is parts4 else tuple([p[0][0] for p in parts6 if p[0]])
            bound = bool(self.posture_rules) and any(p[2] for p in (*parts4, *parts6))
            found = (src4, src6, bound)
        self._live[qkey] = found
        return found

    def _reach_of(self, reach: list[tuple[_Parts, _Parts, bool] | None],
                  sid: int, port: int, protos: frozenset[int]
                  ) -> tuple[_Parts, _Parts, bool]:
        """One dst selector's share of a question, as `_live_rules` answers (both families
        alike); stored in `reach`, the list of shares for this port and protos."""
        rules, rule_src = self.rules, self.rule_src
        # rules listed under (sid, port) open the port: only their protocols are left
        opening = [i for i in self._at_port.get((sid, port), ())
                   if not rules[i].protos.isdisjoint(protos)]
        ranged = self._ranged_at.get(sid)
        if ranged:
            opening += [i for i in ranged if any(rules[i].allows_port(p, port) for p in protos)]
        free = [i for i in opening if i not in self.posture_rules] if self.posture_rules \
            else opening
        covered = rule_src[free[0]] if len(free) == 1 else frozenset().union(
            *[rule_src[i] for i in free])
        parts = (covered,) if covered else ()
        found = reach[sid] = (parts, parts, len(free) != len(opening))
        return found

    def verdict(self, group: SourceGroup, dst: Sequence[Point], port: int,
                protos: frozenset[int], *, every: bool, key: Any = None) -> bool:
        """every=True: do all sources get through (accept)? False: does any (deny)?"""
        if not group.sources:
            return False
        if self.allow_all:
            return True
        if key is None:
            key = tuple(dst)
        # A source gets through on a posture-free rule when one of its selectors is
        # among the live rules' src selectors (of its address's family).
        srcs4, srcs6, bound = self._live.get((key, port, protos)) or self._live_rules(
            dst, key, port, protos)
        sel4, sel6 = group.universal if every else group.union
        for part in srcs4:  # `_meets`, inline: the hottest line of a test run
            if not part.isdisjoint(sel4):
                return True
        if srcs6 is not srcs4 or sel6 is not sel4:
            for part in srcs6:
                if not part.isdisjoint(sel6):
                    return True
        if not every and not bound and not self.self_rules:
            return False
        vkey = (key, port, protos, every)
        found = group.verdicts.get(vkey)
        if found is None:
            found = group.verdicts[vkey] = self._verdict(
                group, dst, port, protos, every, key, bound or bool(self.self_rules))
        return found

    def _verdict(self, group: SourceGroup, dst: Sequence[Point], port: int,
                 protos: frozenset[int], every: bool, key: Any, slow: bool) -> bool:
        """`verdict` past its first check: per signature, then per source if need be."""
        srcs4, srcs6, _ = self._live_rules(dst, key, port, protos)
        if every:
            for sel4, sel6, members in group.signatures:
                if _meets(srcs4, sel4) or _meets(srcs6, sel6):
                    continue
                if not slow:
                    return False
                cand = self.candidates(dst, port, protos, key)
                if not all(self._allowed(s, cand, dst, port, protos) for s in members):
                    return False
            return True
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
        postures, owner = self.compiled.postures, self.owner
        return any(rule_allows(r, postures, owner, src, dst, port, protos)
                   for r in self.self_rules)

    def self_allowed_by(self, rule: Rule, src: Source, dst: Sequence[Point], fam: int) -> bool:
        """Whether `dst` holds an address (of `fam`) of the source's owner's untagged devices."""
        return self_allowed_by(rule, self.owner, src, dst, fam)

    def allowing_rules(self, src: Source, dst: Sequence[Point], port: int,
                       protos: frozenset[int]) -> list[Rule]:
        """Every rule that allows the question (for explain), in policy order.

        Only the rules whose dst holds an address of `dst` (found through the dst
        selectors) and the autogroup:self rules are looked at; their src is checked
        through the src selectors holding the source's addresses.
        """
        out: dict[int, Rule] = {}
        rules, rule_src = self.rules, self.rule_src
        key = tuple(dst)
        for fam, ids in zip((4, 6), self._dst_rules(dst, key), strict=True):
            value = src.point(fam)
            if value is None or not ids:
                continue
            held = self.src.selectors_at((fam, value))
            if not held:
                continue
            for i in ids:
                rule = rules[i]
                if (rule.index not in out and not rule_src[i].isdisjoint(held)
                        and any(rule.allows_port(proto, port) for proto in protos)
                        and self._posture_ok(rule, src)):
                    out[rule.index] = rule
        postures, owner = self.compiled.postures, self.owner
        for rule in self.self_rules:  # few: each checked as the reference scan does
            if rule_allows(rule, postures, owner, src, dst, port, protos):
                out[rule.index] = rule
        return [out[k] for k in sorted(out)]

    def dst_rule_ids(self, dst: Sequence[Point]) -> frozenset[int]:
        """Positions (in `rules`) of the rules whose dst holds some address of `dst`."""
        v4, v6 = self._dst_rules(dst, tuple(dst))
        return v4 | v6


# --- the reference evaluator -------------------------------------------------------------
# One question (a source, destination addresses, a port, protocols) answered by scanning
# every rule, straight from policy-semantics.md §2.4 and §2.7: no selectors, no caches.
# The oracle every fast path above is pinned against (tests/engine/test_fast_paths.py),
# the benchmark's baseline (benchmarks/reference.py), and the check `explain` and the
# index make of autogroup:self rules, which take no shortcut.


def rule_allows(rule: Rule, postures: Postures, owner: Mapping[Point, Device], src: Source,
                dst: Sequence[Point], port: int, protos: frozenset[int]) -> bool:
    """Whether `rule` lets `src` reach some address of `dst` (of the source address's
    family) on `port` over one of `protos`. `owner`: device address -> its device."""
    if not any(rule.allows_port(p, port) for p in protos):
        return False
    if rule.posture is not None and src.attrs is not None \
            and not postures.satisfied(rule.posture, src.attrs):
        return False  # addresses that are no tailnet device (attrs None) are exempt
    for fam in (4, 6):
        value = src.point(fam)
        if value is None or not rule.src.contains_int(fam, value):
            continue
        if rule.self_dst:
            if self_allowed_by(rule, owner, src, dst, fam):
                return True
        elif any(p[0] == fam and rule.dst.contains_int(*p) for p in dst):
            return True
    return False


def scan_allowing(compiled: CompiledPolicy, owner: Mapping[Point, Device], src: Source,
                  dst: Sequence[Point], port: int, protos: frozenset[int]) -> list[Rule]:
    """Every rule that allows the question, in policy order (none under allow-all)."""
    postures = compiled.postures
    return [r for r in compiled.rules
            if rule_allows(r, postures, owner, src, dst, port, protos)]


def scan_allowed(compiled: CompiledPolicy, owner: Mapping[Point, Device], src: Source,
                 dst: Sequence[Point], port: int, protos: frozenset[int]) -> bool:
    """∃ rule allowing the question (always, for a policy without acls or grants)."""
    postures = compiled.postures
    return compiled.allow_all or any(
        rule_allows(r, postures, owner, src, dst, port, protos) for r in compiled.rules)


def self_allowed_by(rule: Rule, owner: Mapping[Point, Device], src: Source,
                    dst: Sequence[Point], fam: int) -> bool:
    """Whether `dst` holds an address (of `fam`) of the source's owner's untagged devices."""
    device = src.device
    if not rule.self_dst or device is None or device.tags or not device.user:
        return False
    user = device.user.lower()
    return any(
        p[0] == fam and (o := owner.get(p)) is not None and not o.tags
        and (o.user or "").lower() == user
        for p in dst
    )
