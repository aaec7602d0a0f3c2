"""Compute who gains and who loses network access between two policies.

Access-diff layer (imports the engine's `compile`, `addrset`, `resolve`, `inventory_io`,
`gcpause`; `reconciler.policy.ports` and `.selectors`, `reconciler.source`,
`reconciler.inventory`, and the sibling `model`, `naming`, `sets` modules). Both
policies compile against the same inventory (sharing one resolver when their
definitions are equal) to (src set, dst set, ports, protocols) rules; the change is the
set difference of the two allow relations, computed exactly:

* only rules of one side that the other side does not have verbatim can add anything
  (found by spelling first, resolving only the selectors whose definitions changed:
  `Selectors`), so each of them is cut into pieces (destination groups that the other
  side's rules cover alike, and port segments) and the other side's sources for that
  piece are subtracted from its own (its twin's first: `_beyond_twins`);
* autogroup:self rules are expanded per user (a user's own untagged devices), and a
  user whose every device changes the same way is reported as `autogroup:self`;
* the remaining pairs are merged back (per protocol and port segment, destinations
  with equal gained sources), named with the coarsest identities (`naming`), and
  merged again by name, ports and protocols; a destination name whose addresses are
  all of the other address family than its source's is left out (never reached).

Source posture: a rule with `srcPosture` only counts for devices of the inventory that
satisfy it (addresses that are no device are not bound by posture, as in the engine).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from typing import Any

from reconciler.access_diff.model import AccessChange, AccessDiff, RuleRef
from reconciler.access_diff.naming import DeviceIndex, Namer
from reconciler.access_diff.sets import minus, overlaps, subset
from reconciler.engine.addrset import EMPTY, AddrSet, Interval, union_all
from reconciler.engine.compile import CompiledPolicy, Rule, compile_policy
from reconciler.engine.gcpause import gc_paused
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.resolve import SelectorError, device_addrs, parse
from reconciler.inventory import SYNTHETIC_ID, Device, Inventory
from reconciler.policy.ports import DEFAULT_PROTOCOLS, PROTOCOL_NAMES, split_acl_dst
from reconciler.policy.selectors import Kind
from reconciler.source import SourceMap

DEFAULT = frozenset(DEFAULT_PROTOCOLS)
PROTO_TEXT = {v: k for k, v in sorted(PROTOCOL_NAMES.items(), reverse=True)}
PROTO_NUMBER = {k: v for v, k in PROTO_TEXT.items()}
SELF = "autogroup:self"
_SECTIONS = ("groups", "tagOwners", "acls", "grants", "ssh", "tests", "sshTests",
             "autoApprovers", "nodeAttrs")
DstKey = tuple[frozenset[int], str | None]


def diff_inventory(before: Mapping[str, Any], after: Mapping[str, Any]) -> Inventory:
    """A synthetic inventory with a device for every user and tag either policy names."""
    both = {s: [before.get(s), after.get(s)] for s in _SECTIONS}
    return synthetic_inventory(both)


# --- one side ---------------------------------------------------------------------------------


class Side:
    """One policy compiled over the shared inventory, with the lookups the diff needs."""

    def __init__(self, policy: Mapping[str, Any], inventory: Inventory,
                 sources: SourceMap | None, devices: DeviceIndex | None = None,
                 like: Side | None = None, compiled: CompiledPolicy | None = None) -> None:
        # `like`: a side whose policy has the same definitions; its resolver (and its
        # canonical selector sets) serve this side too. `compiled`: `policy` compiled
        # over `inventory` already.
        resolver = like.resolver if like is not None else None
        self.compiled: CompiledPolicy = compiled if compiled is not None else \
            compile_policy(policy, inventory, resolver=resolver)
        self.sources = sources
        self.rules: list[Rule] = [r for r in self.compiled.rules if not r.self_dst]
        self.self_rules: list[Rule] = [r for r in self.compiled.rules if r.self_dst]
        self.resolver = self.compiled.resolver
        # Device points and owners depend on the inventory alone: shared by both sides.
        self.devices = devices if devices is not None else DeviceIndex(inventory)
        self._sels_at: dict[tuple[int, int], list[str]] | None = None
        self._by_sel: dict[str, list[int]] = {}
        self.counts: dict[AddrSet, int] = {}
        self.touching: dict[str, list[Rule]] = {}
        self._eff: dict[int, AddrSet] = {}
        self._src_points: dict[int, set[tuple[int, int]]] = {}
        self._failing: dict[tuple[str, ...], AddrSet] = {}
        self._point_key: dict[tuple[int, int], DstKey] = {}
        self._gaps: list[tuple[int, AddrSet]] | None = None
        self._before: dict[tuple[frozenset[int], int, Interval], list[AddrSet]] = {}
        self._self_src: dict[tuple[int, Interval, str], AddrSet] = {}
        self._user_addrs: dict[str, AddrSet] = {}
        self._segments: dict[tuple[Any, ...], list[Interval]] = {}
        self._sizes: dict[AddrSet, int] = {}
        self._canon_sel: dict[tuple[str, bool], AddrSet] = (
            like._canon_sel if like is not None and like.resolver is self.resolver else {})
        # What each rule says, as written: equal spellings over equal selector sets
        # allow the same pairs, and most rules of two policies compare equal this way
        # without resolving a single selector (see `_unchanged`).
        self.spelled = [_spelling(r) for r in self.compiled.rules]
        self.spellings = set(self.spelled)
        self.src_selectors: set[str] = set().union(*(r.src_sel for r in self.compiled.rules))
        self.dst_selectors: set[str] = set().union(*(r.dst_sel for r in self.compiled.rules))

    @property
    def all_devices(self) -> AddrSet:
        return self.devices.all_devices

    @property
    def points(self) -> dict[int, list[int]]:
        return self.devices.points

    @property
    def owner(self) -> dict[tuple[int, int], Device]:
        return self.devices.owner

    @cached_property
    def twins(self) -> dict[tuple[Any, ...], list[Rule]]:
        """Spelling -> the rules (not autogroup:self) spelled so."""
        out: dict[tuple[Any, ...], list[Rule]] = defaultdict(list)
        for rule, spelling in zip(self.compiled.rules, self.spelled, strict=True):
            if not rule.self_dst:
                out[spelling].append(rule)
        return out

    @cached_property
    def signatures(self) -> set[tuple[Any, ...]]:
        """Every rule's `signature`: built only when some rule's spelling has no match."""
        return {self.signature(r) for r in self.compiled.rules}

    def src(self, rule: Rule) -> AddrSet:
        """The rule's sources, less devices that fail its posture."""
        found = self._eff.get(rule.index)
        if found is None:
            found = rule.src
            if rule.posture is not None:
                failing = self._failing.get(rule.posture)
                if failing is None:  # per posture list, not per rule: it walks every device
                    postures = self.compiled.postures
                    failing = self._failing[rule.posture] = device_addrs(
                        d for d in self.compiled.inventory.devices
                        if not postures.satisfied(rule.posture, d.posture))
                found = found - failing
            self._eff[rule.index] = found
        return found

    def src_points(self, rule: Rule) -> set[tuple[int, int]]:
        """The device addresses among the rule's (posture-filtered) sources, cached."""
        found = self._src_points.get(rule.index)
        if found is None:
            found = self._src_points[rule.index] = set(self.points_of(self.src(rule)))
        return found

    def signature(self, rule: Rule) -> tuple[Any, ...]:
        """Equal signatures allow the same pairs. Built from each selector's (cached) set
        rather than the rule's union, so comparing every rule of two policies stays cheap;
        two spellings of one set only cost an exact (and empty) comparison later."""
        return (tuple(self._canon(s, False) for s in rule.src_sel),
                tuple(self._canon(s, True) for s in rule.dst_sel),
                rule.ports, rule.protos, rule.self_dst, rule.posture)

    def _canon(self, sel: str, dst: bool) -> AddrSet:
        """The selector's set as the one object both sides share for that value, so that
        comparing signatures of the two sides is by identity, not interval by interval."""
        found = self._canon_sel.get((sel, dst))
        if found is None:
            addrs = (self.resolver.dst(sel) if dst else self.resolver.src(sel)).addrs
            found = self._canon_sel[sel, dst] = self.devices.canon.setdefault(addrs, addrs)
        return found

    def points_of(self, addrs: AddrSet) -> list[tuple[int, int]]:
        """The device addresses inside `addrs`, as (family, value) points."""
        return self.devices.points_in(addrs)

    def size(self, addrs: AddrSet) -> int:
        """`addrs.size()`, cached: the same selector sets are sorted by size many times."""
        found = self._sizes.get(addrs)
        if found is None:
            found = self._sizes[addrs] = addrs.size()
        return found

    def user_addrs(self, user: str) -> AddrSet:
        found = self._user_addrs.get(user)
        if found is None:
            found = self._user_addrs[user] = device_addrs(self.resolver.user_devices(user))
        return found

    def ref(self, rule: Rule) -> RuleRef:
        """The policy entry (``("grants", 3)``) the rule was compiled from, and its line."""
        entry = rule.path[:2]
        loc = self.sources.at(entry) if self.sources is not None and entry else None
        return RuleRef(entry, loc)

    # --- destinations grouped by how this side's rules cover them ----------------------------

    def _dst_index(self) -> dict[tuple[int, int], list[str]]:
        """Device address -> the dst *selectors* (each resolved once by the resolver's
        cache) holding it; a point's rule ids are gathered on first use (`_rules_at`)."""
        if self._sels_at is None:
            by_sel: dict[str, list[int]] = defaultdict(list)
            for i, rule in enumerate(self.rules):
                for sel in rule.dst_sel:
                    by_sel[sel].append(i)
            sels_at: dict[tuple[int, int], list[str]] = defaultdict(list)
            gaps: dict[int, AddrSet] = {}
            for sel, ids in by_sel.items():
                addrs = self.resolver.dst(sel).addrs
                for p in self.points_of(addrs):
                    sels_at[p].append(sel)
                if not subset(addrs, self.all_devices):  # some address is no device
                    rest = addrs - self.all_devices
                    for i in ids:
                        gaps[i] = gaps[i] | rest if i in gaps else rest
            self._by_sel = dict(by_sel)
            self._sels_at = sels_at
            self._gaps = sorted(gaps.items())
        return self._sels_at

    def _rules_at(self, point: tuple[int, int]) -> set[int]:
        """Ids (in `self.rules`) of the rules whose destinations hold this device address."""
        found: set[int] = set()
        for sel in self._dst_index().get(point, ()):
            found.update(self._by_sel[sel])
        return found

    def _key(self, point: tuple[int, int]) -> DstKey:
        found = self._point_key.get(point)
        if found is None:
            ids = frozenset(self._rules_at(point))
            user = None
            if self.self_rules:
                owner = self.owner.get(point)
                if owner is not None and not owner.tags and owner.user:
                    user = owner.user.lower()
            found = self._point_key[point] = (ids, user)
        return found

    def _gap_rules(self) -> list[tuple[int, AddrSet]]:
        """(rule id, the part of its destinations that is no device), where not empty."""
        self._dst_index()
        assert self._gaps is not None
        return self._gaps

    def dst_groups(self, dst: AddrSet) -> dict[DstKey, AddrSet]:
        """`dst` split into parts that this side's rules cover alike."""
        per_key: dict[DstKey, tuple[list[Interval], list[Interval]]] = {}
        for fam, intervals in ((4, dst.v4), (6, dst.v6)):
            points = self.points[fam]
            for a, b in intervals:
                for k in range(bisect_left(points, a), bisect_right(points, b)):
                    v = points[k]
                    lists = per_key.setdefault(self._key((fam, v)), ([], []))
                    lists[0 if fam == 4 else 1].append((v, v))
        out = {key: AddrSet(v4, v6) for key, (v4, v6) in per_key.items()}
        rest = dst - self.all_devices
        if rest:
            parts: dict[frozenset[int], AddrSet] = {frozenset(): rest}
            for i, nd in self._gap_rules():
                if not nd.overlaps(rest):
                    continue
                split: dict[frozenset[int], AddrSet] = {}
                for sig, addrs in parts.items():
                    inside, outside = addrs & nd, addrs - nd
                    if inside:
                        split[sig | {i}] = inside
                    if outside:
                        split[sig] = split.get(sig, EMPTY) | outside
                parts = split
            for sig, addrs in parts.items():
                key = (sig, None)
                out[key] = out.get(key, EMPTY) | addrs
        return out

    # --- who reaches a destination group on one port segment ---------------------------------

    def segments(self, ports: tuple[Interval, ...], ids: frozenset[int], proto: int,
                 with_self: bool) -> list[Interval]:
        key = (ports, ids, proto, with_self)
        found = self._segments.get(key)
        if found is not None:
            return found
        edges: set[int] = set()
        for a, b in ports:
            edges.update((a, b + 1))
        others = [self.rules[i] for i in ids]
        if with_self:
            others += self.self_rules
        lo, hi = ports[0][0], ports[-1][1]
        for r in others:
            if proto in r.protos:
                for a, b in r.ports:
                    if a <= hi and b >= lo:
                        edges.update((max(a, lo), min(b, hi) + 1))
        cuts = sorted(edges)
        found = [(cuts[k], cuts[k + 1] - 1) for k in range(len(cuts) - 1)
                 if any(a <= cuts[k] and cuts[k + 1] - 1 <= b for a, b in ports)]
        self._segments[key] = found
        return found

    def blockers(self, ids: frozenset[int], proto: int, seg: Interval) -> list[AddrSet]:
        """Source sets whose union is who reaches these destinations on (proto, seg): each
        distinct src selector once (posture-bound rules as their filtered sets)."""
        key = (ids, proto, seg)
        found = self._before.get(key)
        if found is None:
            sels: set[str] = set()
            sets: list[AddrSet] = []
            for i in ids:
                r = self.rules[i]
                if proto in r.protos and _covers(r.ports, seg):
                    if r.posture is None:
                        sels.update(r.src_sel)
                    else:
                        sets.append(self.src(r))
            sets.extend(self.resolver.src(s).addrs for s in sorted(sels))
            # Big sets first: they empty the remainder soonest.
            found = self._before[key] = sorted(sets, key=lambda a: -self.size(a))
        return found

    def self_blocked(self, proto: int, seg: Interval, user: str) -> AddrSet:
        """The user's devices that already reach their own devices on (proto, seg)."""
        key = (proto, seg, user)
        found = self._self_src.get(key)
        if found is None:
            rules = [self.src(r) for r in self.self_rules
                     if proto in r.protos and _covers(r.ports, seg)]
            mine = self.points_of(self.user_addrs(user))
            hit = [(f, v) for f, v in mine if any(s.contains_int(f, v) for s in rules)]
            found = self._self_src[key] = AddrSet([(v, v) for f, v in hit if f == 4],
                                                  [(v, v) for f, v in hit if f == 6])
        return found


def _covers(ports: tuple[Interval, ...], seg: Interval) -> bool:
    return any(a <= seg[0] and seg[1] <= b for a, b in ports)


# --- the difference -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frag:
    proto: int
    seg: Interval
    dst: AddrSet
    src: AddrSet
    user: str | None  # set for pieces of an autogroup:self rule


def _spelling(rule: Rule) -> tuple[Any, ...]:
    """A rule's `Side.signature` with its selectors as written."""
    return (rule.src_sel, rule.dst_sel, rule.ports, rule.protos, rule.self_dst, rule.posture)


class Selectors:
    """The selectors of two policies that stand for different addresses in each.

    A selector's set depends on the (shared) inventory and on the definitions of its
    policy that it reads: a tag whether tagOwners defines it, a group its members, a
    host its address, an ipset the ipsets and hosts (what a Resolver reads of a policy).
    A selector whose definitions are equal on both sides is the same set without
    resolving it; any other one is resolved on both sides and compared. So a change to
    one group costs resolving that group twice, not every selector of both policies.
    """

    def __init__(self, a: Side, b: Side) -> None:
        self.a, self.b = a.resolver, b.resolver
        # Two inventories (devices re-tagged): identities may resolve differently even
        # with equal definitions, so every selector is resolved on both sides.
        self.retagged = a.compiled.inventory is not b.compiled.inventory
        self.tags_equal = self.a.tags == self.b.tags
        self.hosts_equal = self.a.hosts == self.b.hosts
        self.ipsets_equal = self.hosts_equal and self.a.ipsets == self.b.ipsets
        same_sets = self.a is self.b
        self.changed_src = set() if same_sets else {
            s for s in a.src_selectors | b.src_selectors if not self._same(s, False)}
        self.changed_dst = set() if same_sets else {
            s for s in a.dst_selectors | b.dst_selectors if not self._same(s, True)}

    def _same(self, selector: str, dst: bool) -> bool:
        return (not self.retagged and self._reads_equal(selector)) or \
            self._resolves_equal(selector, dst)

    def _reads_equal(self, selector: str) -> bool:
        try:
            sel = parse(selector.strip())
        except SelectorError:
            return False
        if sel.kind is Kind.TAG:
            return (sel.value in self.a.tags) == (sel.value in self.b.tags)
        if sel.kind is Kind.GROUP:
            members = self.a.groups.get(sel.value)
            # Members are users, tags and autogroups; a nested group is compared by set.
            return (members == self.b.groups.get(sel.value) and self.tags_equal
                    and not any(m.startswith("group:") for m in members or ()))
        if sel.kind is Kind.HOST:
            return self.a.hosts.get(sel.value) == self.b.hosts.get(sel.value)
        if sel.kind is Kind.IPSET:
            return self.ipsets_equal
        return True  # users, domains, autogroups, `*`, addresses: the inventory alone

    def _resolves_equal(self, selector: str, dst: bool) -> bool:
        try:
            if dst:
                return self.a.dst(selector).addrs == self.b.dst(selector).addrs
            return self.a.src(selector).addrs == self.b.src(selector).addrs
        except SelectorError:
            return False


def _unchanged(rule: Rule, spelling: tuple[Any, ...], new: Side, old: Side,
               selectors: Selectors) -> bool:
    """`old` has a rule with `rule`'s signature (so `rule` adds nothing): first by
    spelling (the usual case, no sets built), else by the signatures themselves.
    Over two inventories an autogroup:self rule may reach other devices with the same
    sets (a device re-tagged leaves its user's own devices): never unchanged then."""
    if rule.self_dst and selectors.retagged:
        return False
    if (spelling in old.spellings and selectors.changed_src.isdisjoint(rule.src_sel)
            and selectors.changed_dst.isdisjoint(rule.dst_sel)):
        return True
    return new.signature(rule) in old.signatures


def _new_pairs(new: Side, old: Side, selectors: Selectors) -> tuple[list[_Frag], list[Rule]]:
    """Pairs `new` allows that `old` does not, and the rules of `new` they came from."""
    frags: list[_Frag] = []
    changed: list[Rule] = []
    for rule, spelling in zip(new.compiled.rules, new.spelled, strict=True):
        if not rule.ports or _unchanged(rule, spelling, new, old, selectors):
            continue
        src = new.src(rule)
        if not src:
            continue
        changed.append(rule)
        if rule.self_dst:
            for user in sorted(new.resolver.by_user):
                mine = new.user_addrs(user)
                src_u = AddrSet(
                    [(v, v) for fam, v in new.points_of(mine) if fam == 4
                     and src.contains_int(4, v)],
                    [(v, v) for fam, v in new.points_of(mine) if fam == 6
                     and src.contains_int(6, v)])
                if src_u:
                    _cut(rule, src_u, mine, old, frags, user)
        elif rule.dst:
            src, dst = _beyond_twins(rule, spelling, src, rule.dst, old)
            if src and dst:
                _cut(rule, src, dst, old, frags, None)
    return frags, changed


def _beyond_twins(rule: Rule, spelling: tuple[Any, ...], src: AddrSet, dst: AddrSet,
                  old: Side) -> tuple[AddrSet, AddrSet]:
    """`rule`'s sources and destinations less what `old`'s rules spelled alike (the
    same rule before one of its groups changed) already allow, where that is all of a
    side: a twin whose destinations hold all of `dst` is among the blockers of every
    piece `_cut` looks at, so its sources can go first; a twin whose sources hold all
    of `src` blocks whole pieces, those inside its destinations, so they can go first.
    No result changes, only the cost: a group that gained a member leaves just the
    member's devices to cut, instead of the whole group's on every piece."""
    for twin in old.twins.get(spelling, ()):
        if not src or not dst:
            break
        if subset(dst, twin.dst):
            src = minus(src, old.src(twin))
        elif subset(src, old.src(twin)):
            dst = minus(dst, twin.dst)
    return src, dst


def _cut(rule: Rule, src: AddrSet, dst: AddrSet, old: Side, frags: list[_Frag],
         user: str | None) -> None:
    for (ids, owner), addrs in old.dst_groups(dst).items():
        for proto in sorted(rule.protos):
            for seg in old.segments(rule.ports, ids, proto, owner is not None):
                gained = src
                for blocker in old.blockers(ids, proto, seg):
                    gained = minus(gained, blocker)
                    if not gained:
                        break
                if gained and owner is not None:
                    gained = minus(gained, old.self_blocked(proto, seg, owner))
                if gained:
                    frags.append(_Frag(proto, seg, addrs, gained, user))


def _pieces(frags: list[_Frag]) -> dict[tuple[int, Interval], list[_Frag]]:
    """Fragments cut to common port segments, per protocol."""
    edges: dict[int, set[int]] = defaultdict(set)
    for f in frags:
        edges[f.proto].update((f.seg[0], f.seg[1] + 1))
    cuts = {p: sorted(e) for p, e in edges.items()}
    out: dict[tuple[int, Interval], list[_Frag]] = defaultdict(list)
    for f in frags:
        c = cuts[f.proto]
        k = bisect_left(c, f.seg[0])
        while k + 1 < len(c) and c[k] <= f.seg[1]:
            out[(f.proto, (c[k], c[k + 1] - 1))].append(f)
            k += 1
    return out


def _merge_dsts(frags: list[_Frag]) -> list[tuple[AddrSet, AddrSet]]:
    """[(src, dst)] with disjoint dsts: a sweep over the fragments' destination intervals."""
    if len(frags) == 1:
        return [(frags[0].src, frags[0].dst)]
    by_src: dict[AddrSet, tuple[list[Interval], list[Interval]]] = {}
    unions: dict[frozenset[int], AddrSet] = {}
    for fam in (4, 6):
        events: list[tuple[int, int, int]] = []
        for k, f in enumerate(frags):
            for a, b in (f.dst.v4 if fam == 4 else f.dst.v6):
                events.append((a, 1, k))
                events.append((b + 1, -1, k))
        events.sort()
        active: set[int] = set()
        for n, (pos, kind, k) in enumerate(events):
            if kind > 0:
                active.add(k)
            else:
                active.discard(k)
            nxt = events[n + 1][0] if n + 1 < len(events) else None
            if active and nxt is not None and nxt > pos:
                sig = frozenset(active)
                src = unions.get(sig)
                if src is None:
                    src = unions[sig] = union_all(frags[i].src for i in sig)
                lists = by_src.setdefault(src, ([], []))
                lists[0 if fam == 4 else 1].append((pos, nxt - 1))
    return [(src, AddrSet(v4, v6)) for src, (v4, v6) in by_src.items()]


Atom = tuple[AddrSet, AddrSet | None, int, Interval]  # src, dst (None: autogroup:self), proto, seg


def _atoms(frags: list[_Frag], new: Side) -> list[Atom]:
    plain = [f for f in frags if f.user is None]
    mine = [f for f in frags if f.user is not None]
    atoms: list[Atom] = []
    for (proto, seg), group in _pieces(plain).items():
        atoms.extend((src, dst, proto, seg) for src, dst in _merge_dsts(group))
    full: dict[tuple[int, Interval], list[AddrSet]] = defaultdict(list)
    for (proto, seg), group in _pieces(mine).items():
        per_user: dict[str, list[_Frag]] = defaultdict(list)
        for f in group:
            per_user[f.user or ""].append(f)
        for user, fs in per_user.items():
            devices = new.user_addrs(user)
            for src, dst in _merge_dsts(fs):
                if src == devices and dst == devices:
                    full[(proto, seg)].append(src)
                else:
                    atoms.append((src, dst, proto, seg))
    for (proto, seg), srcs in full.items():
        atoms.append((union_all(srcs), None, proto, seg))
    return atoms


def _merge_intervals(items: Iterable[Interval]) -> tuple[Interval, ...]:
    out: list[list[int]] = []
    for a, b in sorted(items):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _ports_text(ports: tuple[Interval, ...]) -> str:
    if ports == ((0, 65535),):
        return "*"
    gaps = tuple((b + 1, c - 1) for (_, b), (c, _) in pairwise(ports))
    if ports[0][0] == 0 and ports[-1][1] == 65535 and len(gaps) < len(ports):
        # Every port but a few (what another rule already opened): say it that way round.
        return "* except " + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in gaps)
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ports)


def _changes(new: Side, old: Side, selectors: Selectors,
             cite: Sequence[tuple[AddrSet, RuleRef]] = ()) -> list[AccessChange]:
    """`new`'s pairs that `old` lacks, as statements. `cite`: (a re-tagged device's
    addresses, its `devices` entry), cited by every statement about the device."""
    frags, changed = _new_pairs(new, old, selectors)
    if not frags:
        return []
    src_namer = Namer(new.compiled, dst=False, devices=new.devices)
    dst_namer = Namer(new.compiled, dst=True, devices=new.devices)
    src_hints = sorted({t for r in changed for t in r.src_text})
    dst_hints = sorted({split_acl_dst(t)[0] if r.kind == "acl" else t
                        for r in changed for t in r.dst_text if t != SELF})
    # 1. name the sources: name -> [(dst or None for autogroup:self, proto, seg)]
    records: dict[str, list[tuple[AddrSet | None, int, Interval]]] = defaultdict(list)
    addrs_of: dict[str, AddrSet] = {}
    for src, dst, proto, seg in _atoms(frags, new):
        for name, addrs in src_namer.name(src, src_hints):
            addrs_of[name] = addrs
            records[name].append((dst, proto, seg))
    # 2. per name: destinations grouped by the exact ports they gain per protocol, then
    #    said as one `ip` when every default protocol gains the same ports
    lines: dict[tuple[str, str, tuple[Interval, ...], bool], list[AddrSet]] = defaultdict(list)
    for name, recs in records.items():
        self_ports: dict[int, list[Interval]] = defaultdict(list)
        for dst, proto, seg in recs:
            if dst is None:
                self_ports[proto].append(seg)
        if self_ports:
            for proto_text, ports in _spell(self_ports):
                lines[(name, proto_text, ports, True)].append(EMPTY)
        for dst, by_proto in _by_ports([(d, p, g) for d, p, g in recs if d is not None]):
            for proto_text, ports in _spell(by_proto):
                lines[(name, proto_text, ports, False)].append(dst)
    out: list[AccessChange] = []
    for (name, proto_text, ports, is_self), dsts in lines.items():
        dst = union_all(dsts)
        if is_self:
            dst_names: tuple[str, ...] = (SELF,)
            devices = _count(new, addrs_of[name])
        else:
            named = dst_namer.name(dst, dst_hints)
            # The relation is of boxes, but a packet's source and destination are of one
            # address family: a name only the other family's addresses stand for (an
            # IPv6 host for an IPv4 subnet, say) is never reached, so it is not said.
            mine = _families(addrs_of[name])
            kept = [(n, a) for n, a in named if _families(a) & mine]
            if not kept:
                continue
            if len(kept) < len(named):
                dst = union_all(a for _, a in kept)
            dst_names = tuple(n for n, _ in kept)
            devices = _count(new, dst)
        protos = DEFAULT if not proto_text else {PROTO_NUMBER.get(proto_text, 0)}
        refs = _responsible(new, changed, name, addrs_of[name], dst, ports, set(protos), is_self)
        if cite:
            about = addrs_of[name] if is_self else addrs_of[name] | dst
            mine = {ref for addrs, ref in cite if overlaps(addrs, about)}
            if mine:
                refs = tuple(sorted(set(refs) | mine, key=lambda ref: (str(ref), ref.label)))
        out.append(AccessChange(name, dst_names, _ports_text(ports), proto_text, devices, refs))
    out.sort(key=lambda c: (c.src, c.dst, c.proto, c.ports))
    return out


def _families(addrs: AddrSet) -> set[int]:
    return {fam for fam, intervals in ((4, addrs.v4), (6, addrs.v6)) if intervals}


def _spell(by_proto: Mapping[int, Iterable[Interval]]) -> list[tuple[str, tuple[Interval, ...]]]:
    """Per-protocol ports as `ip` parts: one ("", ports) if every default protocol gains
    the same ports, else (protocol name, ports) each."""
    merged = {p: _merge_intervals(segs) for p, segs in by_proto.items()}
    values = set(merged.values())
    if set(merged) == DEFAULT and len(values) == 1:
        return [("", values.pop())]
    return [(PROTO_TEXT.get(p, str(p)), ports) for p, ports in sorted(merged.items())]


def _by_ports(recs: list[tuple[AddrSet, int, Interval]]
              ) -> list[tuple[AddrSet, dict[int, list[Interval]]]]:
    """Destinations split where what they gain differs: a sweep over the records'
    destination intervals, grouping stretches by the set of (protocol, segment) gained."""
    # Records with one destination set gain together: sweep the distinct sets only.
    per_dst: dict[AddrSet, list[tuple[int, Interval]]] = {}
    for dst, proto, seg in recs:
        per_dst.setdefault(dst, []).append((proto, seg))
    dsts = list(per_dst)
    by_sig: dict[frozenset[int], tuple[list[Interval], list[Interval]]] = {}
    if len(dsts) == 1 and dsts[0]:
        by_sig[frozenset({0})] = (list(dsts[0].v4), list(dsts[0].v6))
    for fam in (4, 6) if len(dsts) > 1 else ():
        events: list[tuple[int, int, int]] = []
        for k, dst in enumerate(dsts):
            for a, b in (dst.v4 if fam == 4 else dst.v6):
                events.append((a, 1, k))
                events.append((b + 1, -1, k))
        events.sort()
        active: dict[int, int] = defaultdict(int)
        for n, (pos, step, k) in enumerate(events):
            active[k] += step
            if not active[k]:
                del active[k]
            nxt = events[n + 1][0] if n + 1 < len(events) else None
            if active and nxt is not None and nxt > pos:
                lists = by_sig.setdefault(frozenset(active), ([], []))
                lists[0 if fam == 4 else 1].append((pos, nxt - 1))
    out: list[tuple[AddrSet, dict[int, list[Interval]]]] = []
    for sig, (v4, v6) in by_sig.items():
        by_proto: dict[int, list[Interval]] = defaultdict(list)
        for k in sig:
            for proto, seg in per_dst[dsts[k]]:
                by_proto[proto].append(seg)
        out.append((AddrSet(v4, v6), by_proto))
    return out


def _count(side: Side, addrs: AddrSet) -> int:
    """How many devices have an address in `addrs`."""
    found = side.counts.get(addrs)
    if found is None:
        found = side.counts[addrs] = _count_devices(side, addrs)
    return found


def _count_devices(side: Side, addrs: AddrSet) -> int:
    names: set[str] = set()
    for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
        points = side.points[fam]
        for a, b in intervals:
            for k in range(bisect_left(points, a), bisect_right(points, b)):
                device = side.owner[(fam, points[k])]
                if device.id != SYNTHETIC_ID:  # made up for a device-less identity
                    names.add(device.name)
    return len(names)


def _touching(side: Side, changed: list[Rule], name: str, src: AddrSet) -> list[Rule]:
    """The changed rules whose sources include some of `src` (cached per source name)."""
    found = side.touching.get(name)
    if found is None:
        # "Holds one of its device addresses, or (for addresses that are no device)
        # overlaps it" is the same as overlapping it. When every address of `src` is a
        # device, that is whether the rule's device points meet `src`'s: a C-speed set
        # test instead of interval bisection, per changed rule.
        if subset(src, side.all_devices):
            mine = side.points_of(src)
            found = [r for r in changed if not side.src_points(r).isdisjoint(mine)]
        else:
            found = [r for r in changed if overlaps(side.src(r), src)]
        side.touching[name] = found
    return found


def _responsible(side: Side, changed: list[Rule], name: str, src: AddrSet, dst: AddrSet,
                 ports: tuple[Interval, ...], protos: set[int],
                 is_self: bool) -> tuple[RuleRef, ...]:
    refs: set[RuleRef] = set()
    for r in _touching(side, changed, name, src):
        if r.protos.isdisjoint(protos):
            continue
        if not any(a <= d and c <= b for a, b in r.ports for c, d in ports):
            continue
        # A self change comes from self rules only; a plain one from rules reaching its
        # destinations, or from a self rule whose user's devices were only partly covered.
        if r.self_dst if is_self else (r.self_dst or overlaps(r.dst, dst)):
            refs.add(side.ref(r))
    return tuple(sorted(refs, key=lambda ref: (str(ref), ref.label)))


DeviceTags = tuple[str, str, Sequence[str]]  # (device name, device id, its tags after)


def access_diff(before_policy: Mapping[str, Any], after_policy: Mapping[str, Any],
                inventory: Inventory | None = None, *,
                before_sources: SourceMap | None = None,
                after_sources: SourceMap | None = None,
                after_compiled: CompiledPolicy | None = None,
                retag: Sequence[DeviceTags] = (),
                retag_sources: SourceMap | None = None) -> AccessDiff:
    """Network access gained and lost going from `before_policy` to `after_policy`.

    Both compile over `inventory` (default: a synthetic one with a device per user and
    tag either policy names). Gained changes cite the rules of the after policy, lost
    ones those of the before policy, at file:line when the sources are given. Raises
    the engine's CompileError (a ReconcilerError) when a policy does not compile.
    `after_compiled`: the after policy compiled over `inventory` already (plan shares
    the one its tests use); ignored when compiled over another inventory.

    `retag`: devices whose tags change too (the plan's managed device tags). The after
    policy then compiles over `inventory` with those devices carrying their new tags
    (`retagged`), so a device that gains `tag:prod` gains what `tag:prod` reaches and
    loses what it reached as before; statements about such a device also cite its
    `devices` entry (at its line in `retag_sources`, else `after_sources`), and a note
    says how its tags move.
    """
    # Allocation-heavy and nothing cyclic to free: see `gcpause`.
    with gc_paused():
        diff = _access_diff(before_policy, after_policy, inventory, before_sources,
                            after_sources, after_compiled, retag,
                            retag_sources if retag_sources is not None else after_sources)
    inv = inventory if inventory is not None else diff_inventory(before_policy, after_policy)
    return replace(diff, groups=_groups(before_policy, after_policy),
                   device_tags=_device_tags(diff, inv))


def _device_tags(diff: AccessDiff, inv: Inventory) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The tags of the tagged devices the diff names one by one (``100.64.0.21 (prod)``),
    for the diagram's summary to draw devices as their tags."""
    named = {n for c in (*diff.gained, *diff.lost) for n in (c.src, *c.dst)}
    out = {}
    for device in inv.devices:
        if device.tags:
            for label in (f"{device.ipv4} ({device.name})", device.name):
                if label in named:
                    out[label] = tuple(device.tags)
    return tuple(sorted(out.items()))


def _groups(*policies: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each group's members (after the change wins), for the diagram to draw people as
    their groups."""
    found: dict[str, tuple[str, ...]] = {}
    for policy in policies:
        groups = policy.get("groups")
        for name, members in (groups.items() if isinstance(groups, Mapping) else ()):
            if isinstance(name, str) and isinstance(members, list):
                found[name] = tuple(sorted(m for m in members if isinstance(m, str)))
    return tuple(sorted(found.items()))


def retagged(inventory: Inventory, retag: Sequence[DeviceTags]
             ) -> tuple[Inventory, list[tuple[Device, tuple[str, ...]]], list[str]]:
    """`inventory` with the devices of `retag` (found by id, else by name) carrying their
    new tags; the devices whose tags move (as before, with their tags after), and the
    names of those not in the inventory. The same object when no tag moves."""
    by_id = {d.id: d for d in inventory.devices if d.id and d.id != SYNTHETIC_ID}
    by_name = {d.name: d for d in inventory.devices}
    moved: dict[str, tuple[Device, tuple[str, ...]]] = {}
    missing: list[str] = []
    for name, device_id, tags in retag:
        device = by_id.get(device_id) or by_name.get(name)
        if device is None:
            missing.append(name)
            continue
        after = tuple(sorted(set(tags)))
        if after != tuple(sorted(device.tags)):
            moved[device.name] = (device, after)
    if not moved:
        return inventory, [], sorted(missing)
    devices = tuple(replace(d, tags=moved[d.name][1]) if d.name in moved and
                    moved[d.name][0] is d else d for d in inventory.devices)
    return (Inventory(users=inventory.users, devices=devices, source=inventory.source),
            [moved[n] for n in sorted(moved)], sorted(missing))


def _access_diff(before_policy: Mapping[str, Any], after_policy: Mapping[str, Any],
                 inventory: Inventory | None, before_sources: SourceMap | None,
                 after_sources: SourceMap | None,
                 after_compiled: CompiledPolicy | None,
                 retag: Sequence[DeviceTags] = (),
                 retag_sources: SourceMap | None = None) -> AccessDiff:
    inv = inventory if inventory is not None else diff_inventory(before_policy, after_policy)
    notes: list[str] = []
    after_inv, moved, missing = retagged(inv, retag) if retag else (inv, [], [])
    for device, tags in moved:
        notes.append(f"{device.name} is re-tagged {_tags_text(tags)} (was "
                     f"{_tags_text(device.tags)}): its access after is with its new tags")
    notes.extend(f"device {name} is not in the inventory: the access it gains or loses "
                 "with its new tags is not shown" for name in missing)
    if after_inv is not inv:
        # Two inventories: nothing inventory-bound (resolvers, device owners) is shared.
        before = Side(before_policy, inv, before_sources, DeviceIndex(inv))
        after = Side(after_policy, after_inv, after_sources, DeviceIndex(after_inv),
                     compiled=after_compiled if after_compiled is not None
                     and after_compiled.inventory is after_inv else None)
    else:
        devices = DeviceIndex(inv)
        # Equal definitions resolve every selector alike: share the resolver (and caches).
        same = _definitions(before_policy) == _definitions(after_policy)
        if after_compiled is not None and after_compiled.inventory is inv:
            after = Side(after_policy, inv, after_sources, devices, compiled=after_compiled)
            before = Side(before_policy, inv, before_sources, devices, after if same else None)
        else:
            before = Side(before_policy, inv, before_sources, devices)
            after = Side(after_policy, inv, after_sources, devices, before if same else None)
    if _apps(before.compiled) != _apps(after.compiled):
        notes.append("application capability grants (app) changed; they are not shown here")
    selectors = Selectors(before, after)
    cite = [(device_addrs([device]), RuleRef(
        ("devices", device.name, "tags"),
        retag_sources.key(("devices", device.name)) if retag_sources is not None else None))
        for device, _ in moved]
    return AccessDiff(tuple(_changes(after, before, selectors, cite)),
                      tuple(_changes(before, after, selectors, cite)), inv.source,
                      tuple(notes))


def _tags_text(tags: Iterable[str]) -> str:
    return ", ".join(tags) or "untagged"


def _definitions(policy: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a Resolver reads of a policy."""
    return tuple(policy.get(k) for k in ("groups", "hosts", "ipsets", "tagOwners"))


def _apps(compiled: CompiledPolicy) -> set[tuple[Any, ...]]:
    return {(a.src, a.dst, a.self_dst, repr(sorted(a.caps.items(), key=str)))
            for a in compiled.app_rules}
