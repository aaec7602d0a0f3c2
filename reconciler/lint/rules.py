"""Lint checks on the compiled rules: shadowed rules and test coverage.

Lint layer (imports the engine's `compile`, `resolve`, `ssh`, `addrset`, the policy
parsers, and `access_diff.sets` for fast set differences). Both checks use the engine's
compiled form, so they see what the rules mean over the inventory, not how they are
spelled:

* `shadowed-rule`: every (src, dst, ports, protocols) tuple an entry compiles to lies
  inside one tuple of another entry (the later of two equal entries is the shadowed one);
* `rule-untested`: no `tests` accept assertion (or `sshTests` accept/check user) is
  allowed by any tuple of the entry. Coverage is the share of entries that some
  assertion exercises.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.access_diff.sets import subset
from reconciler.engine.addrset import AddrSet, parse_ip
from reconciler.engine.compile import CompiledPolicy, Rule
from reconciler.engine.resolve import device_addrs
from reconciler.engine.ssh import compile_ssh, user_matches
from reconciler.errors import ReconcilerError
from reconciler.lint.findings import Finding
from reconciler.policy.ports import parse_proto, split_acl_dst
from reconciler.policy.selectors import Kind, parse_selector
from reconciler.source import PathKey, SourceMap

TCP_OR_UDP = frozenset({6, 17})
Point = tuple[int, int]


@dataclass
class Coverage:
    """Which rule entries (``("grants", 3)``) some test exercises."""

    covered: set[PathKey] = field(default_factory=set)
    entries: list[PathKey] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.entries) if self.entries else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"covered": len(self.covered), "total": len(self.entries),
                "percent": round(self.percent, 1),
                "untested": [_label(e) for e in self.entries if e not in self.covered]}


def _label(entry: PathKey, names: dict[PathKey, str] | None = None) -> str:
    name = (names or {}).get(entry)
    return f'{entry[0]}[{entry[1]}]' + (f' "{name}"' if name else "")


class _Points:
    """Device addresses of the inventory, for bisecting sets into points."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        devices = compiled.inventory.devices
        all_devices = device_addrs(devices)
        self.points = {fam: [a for a, b in iv for a in range(a, b + 1)]
                       for fam, iv in ((4, all_devices.v4), (6, all_devices.v6))}
        self.owner = {parse_ip(ip): d for d in devices for ip in d.addresses}

    def first(self, addrs: AddrSet) -> Point | None:
        """The lowest device address inside `addrs`, without listing them all."""
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            pts = self.points[fam]
            for a, b in intervals:
                k = bisect_left(pts, a)
                if k < len(pts) and pts[k] <= b:
                    return (fam, pts[k])
        return None

    def of(self, addrs: AddrSet) -> list[Point]:
        out: list[Point] = []
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            pts = self.points[fam]
            for a, b in intervals:
                out.extend((fam, pts[k]) for k in range(bisect_left(pts, a), bisect_right(pts, b)))
        return out


class _RuleIndex:
    """Device address -> ids of the rules whose src (or dst) holds it. Spread per
    *selector* (each resolved once), and the per-point rule sets built on first use, so
    wide selectors such as autogroup:member cost one pass, not one per rule."""

    def __init__(self, rules: list[Rule], pts: _Points, resolve: Any, dst: bool,
                 only: set[int] | None = None) -> None:
        by_sel: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rules):
            if only is not None and i not in only:
                continue
            for sel in (r.dst_sel if dst else r.src_sel):
                by_sel[sel].append(i)
        self.by_sel = dict(by_sel)
        self.sels_at: dict[Point, list[str]] = defaultdict(list)
        self.outside: set[int] = set()  # rules reaching addresses that are no device
        for sel, ids in self.by_sel.items():
            addrs = resolve(sel)
            points = pts.of(addrs)
            for p in points:
                self.sels_at[p].append(sel)
            if addrs.size() > len(points):
                self.outside.update(ids)
        self._at: dict[Point, set[int]] = {}

    def at(self, point: Point) -> set[int]:
        found = self._at.get(point)
        if found is None:
            found = self._at[point] = {
                i for s in self.sels_at.get(point, ()) for i in self.by_sel[s]}
        return found


def _ports_in(inner: tuple[tuple[int, int], ...], outer: tuple[tuple[int, int], ...]) -> bool:
    return all(any(c <= a and b <= d for c, d in outer) for a, b in inner)


def _contains(big: Rule, small: Rule) -> bool:
    if small.self_dst != big.self_dst or not small.protos <= big.protos:
        return False
    if big.posture is not None and big.posture != small.posture:
        return False
    if not _ports_in(small.ports, big.ports):
        return False
    return subset(small.src, big.src) and (small.self_dst or subset(small.dst, big.dst))


def shadowed(compiled: CompiledPolicy, sources: SourceMap,
             names: dict[PathKey, str] | None = None) -> list[Finding]:
    pts = _Points(compiled)
    rules = [r for r in compiled.rules if r.path]
    resolver = compiled.resolver
    dst_index = _RuleIndex(rules, pts, lambda s: resolver.dst(s).addrs, dst=True)
    src_index = _RuleIndex(rules, pts, lambda s: resolver.src(s).addrs, dst=False)
    self_rules = {i for i, r in enumerate(rules) if r.self_dst}
    order = {("acls", 0): 0, ("grants", 0): 1}
    entries: dict[PathKey, list[Rule]] = defaultdict(list)
    for r in rules:
        entries[r.path[:2]].append(r)

    def rank(entry: PathKey) -> tuple[int, Any]:
        return order.get((str(entry[0]), 0), 2), entry[1]

    findings: list[Finding] = []
    for entry, members in entries.items():
        by: set[PathKey] = set()
        ok = True
        for small in members:
            if not small.src or (not small.self_dst and not small.dst):
                ok = False  # matches nothing in this inventory: not a shadowing question
                break
            # A container holds the first device address of each side (or, for sets of
            # no device at all, is one of the rules reaching such addresses).
            src_first = pts.first(small.src)
            cands = src_index.at(src_first) if src_first else src_index.outside
            if small.self_dst:
                cands = cands & self_rules
            else:
                dst_first = pts.first(small.dst)
                cands = cands & (dst_index.at(dst_first) if dst_first
                                 else dst_index.outside)
            found = None
            for k in sorted(cands):
                big = rules[k]
                other = big.path[:2]
                if other == entry or not _contains(big, small):
                    continue
                # Two equal entries: only the later one is reported as shadowed.
                if _contains(small, big) and rank(other) > rank(entry):
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
    return findings


# --- coverage ----------------------------------------------------------------------------------


def _entries(policy: Mapping[str, Any], compiled: CompiledPolicy) -> list[PathKey]:
    seen = {r.path[:2] for r in compiled.rules if r.path}
    seen |= {("ssh", i) for i in range(len(policy.get("ssh") or []))}
    return sorted(seen, key=lambda e: (str(e[0]), e[1]))


def coverage(policy: Mapping[str, Any], compiled: CompiledPolicy) -> Coverage:
    cov = Coverage(entries=_entries(policy, compiled))
    pts = _Points(compiled)
    resolver = compiled.resolver
    rules = [r for r in compiled.rules if r.path]
    remaining = set(range(len(rules)))
    of_entry: dict[PathKey, list[int]] = defaultdict(list)
    for i, r in enumerate(rules):
        of_entry[r.path[:2]].append(i)

    def index() -> tuple[_RuleIndex, _RuleIndex]:
        return (_RuleIndex(rules, pts, lambda s: resolver.dst(s).addrs, dst=True,
                           only=remaining),
                _RuleIndex(rules, pts, lambda s: resolver.src(s).addrs, dst=False,
                           only=remaining))

    (dst_index, src_index), indexed = index(), len(remaining)
    by_src: dict[str, set[int]] = {}  # src text -> rules whose src holds one of its devices
    by_dst: dict[str, set[int]] = {}  # dst host -> rules (and self rules) reaching it

    def src_rules(text: str, srcs: list[tuple[Point, ...]]) -> set[int]:
        found = by_src.get(text)
        if found is None:
            found = set()
            for device_points in srcs:
                for p in device_points:
                    found |= src_index.at(p)
                    if p not in pts.owner:
                        found |= src_index.outside
            by_src[text] = found
        return found

    self_rules = {i for i, r in enumerate(rules) if r.self_dst}
    src_cache: dict[str, list[tuple[Point, ...]]] = {}
    dst_cache: dict[str, list[Point]] = {}

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
        return [tuple(parse_ip(ip) for ip in d.addresses) for d in devices]

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
        return [parse_ip(ip) for d in devices for ip in d.addresses]

    for test in policy.get("tests") or []:
        if not remaining:
            break
        if not isinstance(test, Mapping):
            continue
        src_text = str(test.get("src", test.get("user", ""))).strip()
        srcs = sources_of(src_text)
        from_src = src_rules(src_text, srcs)
        try:
            proto = parse_proto(str(test["proto"])) if test.get("proto") else None
        except ValueError:
            continue
        protos = TCP_OR_UDP if proto is None else frozenset({proto})
        for text in test.get("accept", test.get("allow")) or []:
            host, port_text = split_acl_dst(str(text))
            if not port_text.isdigit():
                continue
            port = int(port_text)
            dsts = dst_points(host.strip())
            cands = by_dst.get(host)
            if cands is None:
                cands = set(self_rules)
                for p in dsts:
                    cands |= dst_index.at(p)
                if any(p not in pts.owner for p in dsts):
                    cands |= dst_index.outside
                by_dst[host] = cands
            for i in sorted(cands & from_src & remaining):
                r = rules[i]
                if not any(r.allows_port(p, port) for p in protos):
                    continue
                if i in remaining and _rule_hits(r, srcs, dsts, pts):
                    # The entry is covered: none of its other tuples need checking.
                    remaining.difference_update(of_entry[r.path[:2]])
                    cov.covered.add(r.path[:2])
        if len(remaining) * 4 < indexed:
            # Most rules are covered: a smaller index makes the remaining lookups cheap.
            (dst_index, src_index), indexed = index(), len(remaining)
            by_src.clear()
            by_dst.clear()
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
