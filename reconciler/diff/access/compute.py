"""Compute who gains and who loses network access between two policies.

diff/access/ (imports the engine's `compile`, `addrset`, `resolve`, `inventory_io`;
`reconciler.validate.ports`, `reconciler.core.source`,
`reconciler.core.inventory`, `reconciler.core.memo`, and the sibling `model` and `naming`
modules). Both
policies compile against the same inventory (sharing one resolver when their
definitions are equal, else resolving each selector that reads alike once: a
resolver's peer) to (src set, dst set, ports, protocols) rules; the change is the
set difference of the two allow relations, computed exactly:

* only rules of one side that the other side does not have verbatim can add anything
  (found by spelling first, resolving only the selectors whose definitions changed:
  `Selectors`), so each of them is cut into pieces (destination groups that the other
  side's rules cover alike, and port segments) and the other side's sources for that
  piece are subtracted from its own (its twin's first: `_beyond_twins`); sources that
  are a few device addresses (a member added to a group named by many rules) are cut
  per address instead, over all their rules at once (`_cut_points`);
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

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from operator import attrgetter
from typing import Any, NamedTuple

from reconciler.core.errors import SelectorError
from reconciler.core.inventory import SYNTHETIC_ID, Device, Inventory
from reconciler.core.memo import memo
from reconciler.core.source import SourceMap
from reconciler.diff.access.model import AccessChange, AccessDiff, RuleRef
from reconciler.diff.access.naming import DeviceIndex, Namer
from reconciler.engine.addrset import EMPTY, AddrSet, Interval, merge_intervals, union_all
from reconciler.engine.compile import CompiledPolicy, Rule, compile_policy
from reconciler.engine.inventory_io import sections_of, synthetic_inventory
from reconciler.engine.resolve import Alike, Resolver, device_addrs
from reconciler.validate.ports import DEFAULT_PROTOCOLS, PROTOCOL_NAMES, split_acl_dst

DEFAULT = frozenset(DEFAULT_PROTOCOLS)
PROTO_TEXT = {v: k for k, v in sorted(PROTOCOL_NAMES.items(), reverse=True)}
PROTO_NUMBER = {k: v for v, k in PROTO_TEXT.items()}
SELF = "autogroup:self"
DstKey = tuple[frozenset[int], str | None]


def diff_inventory(before: Mapping[str, Any], after: Mapping[str, Any]) -> Inventory:
    """A synthetic inventory with a device for every user and tag either policy names."""
    return synthetic_inventory(sections_of(before, after))


# --- one side ---------------------------------------------------------------------------------


class Side:
    """One policy compiled over the shared inventory, with the lookups the diff needs
    (each computed once per side: `memo`)."""

    def __init__(self, policy: Mapping[str, Any], inventory: Inventory,
                 sources: SourceMap | None, devices: DeviceIndex | None = None,
                 like: Side | None = None, compiled: CompiledPolicy | None = None,
                 peer: Side | None = None) -> None:
        # `like`: a side whose policy has the same definitions; its resolver (and its
        # canonical selector sets) serve this side too. `peer`: the other side over the
        # same inventory, whose definitions differ: its resolver's sets serve this
        # side's for the selectors that read alike (`Resolver`'s peer). `compiled`:
        # `policy` compiled over `inventory` already.
        resolver = like.resolver if like is not None else None
        if resolver is None and peer is not None:
            resolver = Resolver(policy, inventory, peer=peer.resolver)
        self.compiled: CompiledPolicy = compiled if compiled is not None else \
            compile_policy(policy, inventory, resolver=resolver)
        self.sources = sources
        self.rules: list[Rule] = [r for r in self.compiled.rules if not r.self_dst]
        self.self_rules: list[Rule] = [r for r in self.compiled.rules if r.self_dst]
        self.resolver: Resolver = self.compiled.resolver
        # Device points and owners depend on the inventory alone: shared by both sides.
        self.devices = devices if devices is not None else DeviceIndex(inventory)
        self._canon_sel: dict[tuple[str, bool], AddrSet] = (
            like._canon_sel if like is not None and like.resolver is self.resolver else {})
        # The other policy's side's canonical sets and the selectors whose sets differ
        # between the two (`pair`): a selector not among them is the same set on both
        # sides, so either side's resolving serves both (see `_canon`). The other side's
        # dict, not the side: two sides referring to each other would be a cycle, kept
        # alive past the diff until a full collection.
        self._peer_canon: dict[tuple[str, bool], AddrSet] | None = None
        self._changed: tuple[set[str], set[str]] = (set(), set())  # src, dst
        # What each rule says, as written: equal spellings over equal selector sets
        # allow the same pairs, and most rules of two policies compare equal this way
        # without resolving a single selector (see `_unchanged`).
        self.spelled = list(map(_spelling, self.compiled.rules))
        self.spellings = set(self.spelled)
        self.src_selectors: set[str] = set().union(*(r.src_sel for r in self.compiled.rules))
        self.dst_selectors: set[str] = set().union(*(r.dst_sel for r in self.compiled.rules))
        self.changed_rules: list[Rule] = []  # filled by `new_pairs`
        self._keys: dict[tuple[int, int], DstKey] = {}  # `_key`'s answers
        self._pointwise = 0  # destination addresses `_key` asked each selector about
        self._asked: dict[int, int] = {}  # rule index -> times `_holds_some` asked its set
        self._gathered: dict[int, frozenset[tuple[int, int]]] = {}  # `_holds_some`'s

    def pair(self, peer: Side, changed_src: set[str], changed_dst: set[str]) -> None:
        """Compare with `peer`, whose selectors outside these sets resolve alike."""
        self._peer_canon = peer._canon_sel
        self._changed = (changed_src, changed_dst)

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

    def has_signature(self, signature: tuple[Any, ...]) -> bool:
        """Whether some rule of this side has this `signature`."""
        # Rule by rule among those of its kind, destinations first, each selector's set
        # built only when the ones before it are equal: most rules differ at their first
        # destination, and a rule's destinations (a few tags) are fewer distinct sets,
        # and cheaper to build, than its sources (users, groups).
        src, dst = signature[0], signature[1]
        canon = self._canon
        for rule in self._kinds.get((*signature[2:], len(src), len(dst)), ()):
            if all(_same(canon(s, True), d) for s, d in zip(rule.dst_sel, dst, strict=True)) \
                    and all(_same(canon(s, False), a)
                            for s, a in zip(rule.src_sel, src, strict=True)):
                return True
        return False

    @cached_property
    def _kinds(self) -> dict[tuple[Any, ...], list[Rule]]:
        """Rules by what their signature holds besides the selector sets: ports,
        protocols, autogroup:self, posture, and how many src and dst selectors."""
        out: dict[tuple[Any, ...], list[Rule]] = defaultdict(list)
        for r in self.compiled.rules:
            out[r.ports, r.protos, r.self_dst, r.posture, len(r.src_sel),
                len(r.dst_sel)].append(r)
        return out

    def src(self, rule: Rule) -> AddrSet:
        """The rule's sources, less devices that fail its posture."""
        return self._src(rule.index)

    @memo
    def _src(self, index: int) -> AddrSet:
        rule = self.compiled.rules[index]
        if rule.posture is None:
            return rule.src
        return rule.src - self._failing(rule.posture)

    @memo
    def _failing(self, posture: tuple[str, ...]) -> AddrSet:
        """Devices failing a posture list (per list, not per rule: it walks every device)."""
        postures = self.compiled.postures
        return device_addrs(d for d in self.compiled.inventory.devices
                            if not postures.satisfied(posture, d.posture))

    @memo
    def point_set(self, addrs: AddrSet) -> frozenset[tuple[int, int]]:
        """The device addresses inside `addrs` (a rule's sources or destinations), as a
        set: for C-speed set operations."""
        return frozenset(self.points_of(addrs))

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
        found = self._known(sel, dst)
        if found is None:
            addrs = (self.resolver.dst(sel) if dst else self.resolver.src(sel)).addrs
            found = self.devices.canon.setdefault(addrs, addrs)
        self._canon_sel[(sel, dst)] = found
        return found

    def _known(self, sel: str, dst: bool) -> AddrSet | None:
        """The selector's set if built already, here or (when it reads alike) on the
        other side; None if not."""
        key = (sel, dst)
        found = self._canon_sel.get(key)
        if found is None:
            peer = self._peer_canon
            if peer is not None and sel not in self._changed[dst]:
                found = peer.get(key)  # the same set there: resolved once
        return found

    @memo
    def beyond_devices(self, addrs: AddrSet) -> AddrSet:
        """The addresses of `addrs` that are no device's."""
        return addrs - self.all_devices if not addrs.issubset(self.all_devices) else EMPTY

    def canon_dst(self, sel: str) -> AddrSet:
        """The destination selector's set (see `_canon`)."""
        return self._canon(sel, True)

    def points_of(self, addrs: AddrSet) -> list[tuple[int, int]]:
        """The device addresses inside `addrs`, as (family, value) points."""
        return self.devices.points_in(addrs)

    @memo
    def size(self, addrs: AddrSet) -> int:
        """`addrs.size()`: the same selector sets are sorted by size many times."""
        return addrs.size()

    @memo
    def user_addrs(self, user: str) -> AddrSet:
        return device_addrs(self.resolver.user_devices(user))

    def ref(self, rule: Rule) -> RuleRef:
        """The policy entry (``("grants", 3)``) the rule was compiled from, and its line."""
        entry = rule.path[:2]
        loc = self.sources.at(entry) if self.sources is not None and entry else None
        return RuleRef(entry, loc)

    @memo
    def count(self, addrs: AddrSet) -> int:
        """How many devices have an address in `addrs`."""
        names: set[str] = set()
        owner = self.owner
        for point in self.points_of(addrs):
            device = owner[point]
            if device.id != SYNTHETIC_ID:  # made up for a device-less identity
                names.add(device.name)
        return len(names)

    # --- destinations grouped by how this side's rules cover them ----------------------------

    @cached_property
    def _dst_index(self) -> tuple[dict[tuple[int, int], list[str]], dict[str, list[int]],
                                  list[tuple[int, AddrSet]]]:
        """Device address -> the dst *selectors* (each resolved once by the resolver's
        cache) holding it; dst selector -> ids (in `self.rules`) of the rules naming it;
        (rule id, the part of its destinations that is no device), where not empty."""
        by_sel = self._by_dst_sel
        sels_at: dict[tuple[int, int], list[str]] = defaultdict(list)
        gaps: dict[int, AddrSet] = {}
        for sel, ids in by_sel.items():
            addrs = self.resolver.dst(sel).addrs
            for p in self.points_of(addrs):
                sels_at[p].append(sel)
            if not addrs.issubset(self.all_devices):  # some address is no device
                rest = addrs - self.all_devices
                for i in ids:
                    gaps[i] = gaps[i] | rest if i in gaps else rest
        return sels_at, dict(by_sel), sorted(gaps.items())

    def _key(self, point: tuple[int, int], pointwise: bool) -> DstKey:
        """The rules (ids in `self.rules`) whose destinations hold this device address,
        and its owner when autogroup:self rules may reach it. `pointwise`: the address
        may be asked of each destination selector (see `dst_groups`)."""
        found_key = self._keys.get(point)
        if found_key is None:
            found_key = self._keys[point] = self._new_key(point, pointwise)
        return found_key

    def _new_key(self, point: tuple[int, int], pointwise: bool) -> DstKey:
        found: set[int] = set()
        if pointwise and "_dst_index" not in self.__dict__ and \
                self._pointwise < _POINTWISE_KEYS:
            # The first few addresses (a member's device, when a group named as a rule's
            # destination gains one) are asked of each destination selector, rather than
            # spreading every selector's devices over an index of all device addresses.
            self._pointwise += 1
            for sel, ids in self._by_dst_sel.items():
                if self._holds(sel, True, point):
                    found.update(ids)
        else:
            sels_at, by_sel, _ = self._dst_index
            for sel in sels_at.get(point, ()):
                found.update(by_sel[sel])
        user = None
        if self.self_rules:
            owner = self.owner.get(point)
            if owner is not None and not owner.tags and owner.user:
                user = owner.user.lower()
        return frozenset(found), user

    def dst_groups(self, dst: AddrSet) -> dict[DstKey, AddrSet]:
        """`dst` split into parts that this side's rules cover alike."""
        per_key: dict[DstKey, tuple[list[Interval], list[Interval]]] = {}
        points = self.points_of(dst)
        # A few destination addresses may be asked of each selector (see `_key`); more
        # would cost more than the index of all of them.
        pointwise = len(points) <= _POINTWISE_KEYS
        for fam, value in points:
            lists = per_key.setdefault(self._key((fam, value), pointwise), ([], []))
            lists[0 if fam == 4 else 1].append((value, value))
        out = {key: AddrSet(v4, v6) for key, (v4, v6) in per_key.items()}
        rest = dst - self.all_devices
        if rest:
            parts: dict[frozenset[int], AddrSet] = {frozenset(): rest}
            for i, nd in self._dst_index[2]:
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

    @memo
    def _profiles(self, ids: frozenset[int]) -> list[_Profile]:
        """The rules `ids` grouped by (ports, protocols): a policy repeats a few port
        lists, so a segment is checked against each list once, not against every rule."""
        groups: dict[tuple[tuple[Interval, ...], frozenset[int]],
                     tuple[set[str], list[int], list[int]]] = {}
        for i in ids:
            r = self.rules[i]
            sels, posture, members = groups.setdefault((r.ports, r.protos), (set(), [], []))
            members.append(i)
            if r.posture is None:
                sels.update(r.src_sel)
            else:
                posture.append(r.index)
        return [_Profile(ports, protos, frozenset(sels), posture, frozenset(members))
                for (ports, protos), (sels, posture, members) in groups.items()]

    @memo
    def covering(self, ids: frozenset[int], proto: int, seg: Interval) -> frozenset[int]:
        """The rules among `ids` that open (proto, seg)."""
        return frozenset().union(*(p.ids for p in self._profiles(ids)
                                   if proto in p.protos and _covers(p.ports, seg)))

    @memo
    def holding(self, point: tuple[int, int]) -> frozenset[int]:
        """The rules (ids in `self.rules`) whose (posture-filtered) sources hold this
        device address: each src selector is asked once (its set shared with the other
        side where equal, see `_canon`)."""
        fam, value = point
        by_sel, posture = self._by_src_sel
        found: set[int] = set()
        for sel, ids in by_sel.items():
            if self._holds(sel, False, point):
                found.update(ids)
        found.update(i for i in posture
                     if self._src(self.rules[i].index).contains_int(fam, value))
        return frozenset(found)

    def _holds(self, sel: str, dst: bool, point: tuple[int, int]) -> bool:
        """Whether the selector's set (on its side) holds the device address `point`.

        An identity (user, group, tag, autogroup) holds it when one of its devices has
        it: asked of its devices (a set of ids, built once) rather than of its address
        set, which costs parsing and sorting every device's addresses. A set already
        built (here or on the other side) is asked directly."""
        found = self._known(sel, dst)
        if found is None:
            members = self._members(sel)
            if members is not None:
                return not members.isdisjoint(self.devices.ids_at(point))
            found = self._canon(sel, dst)
        return found.contains_int(*point)

    @memo
    def _members(self, sel: str) -> frozenset[int] | None:
        """The ids (`id`) of an identity selector's devices; None for any other."""
        devices = self.resolver.identity_devices(sel)
        return None if devices is None else frozenset(map(id, devices))

    @cached_property
    def _by_dst_sel(self) -> dict[str, list[int]]:
        """dst selector -> the rules (ids in `self.rules`) naming it."""
        by_sel: dict[str, list[int]] = defaultdict(list)
        for i, rule in enumerate(self.rules):
            for sel in rule.dst_sel:
                by_sel[sel].append(i)
        return by_sel

    @cached_property
    def _by_src_sel(self) -> tuple[dict[str, list[int]], list[int]]:
        """src selector -> the rules without posture naming it; the rules with posture."""
        by_sel: dict[str, list[int]] = defaultdict(list)
        posture: list[int] = []
        for i, r in enumerate(self.rules):
            if r.posture is not None:
                posture.append(i)
            else:
                for sel in r.src_sel:
                    by_sel[sel].append(i)
        return dict(by_sel), posture

    @memo
    def segments(self, ports: tuple[Interval, ...], ids: frozenset[int], proto: int,
                 with_self: bool) -> list[Interval]:
        """`ports` cut where a rule among `ids` (and the self rules) starts or stops
        covering them on `proto`."""
        edges: set[int] = set()
        for a, b in ports:
            edges.update((a, b + 1))
        lo, hi = ports[0][0], ports[-1][1]
        others = [(p.ports, p.protos) for p in self._profiles(ids)]
        if with_self:
            others += [(r.ports, r.protos) for r in self.self_rules]
        for r_ports, protos in others:
            if proto in protos:
                for a, b in r_ports:
                    if a <= hi and b >= lo:
                        edges.update((max(a, lo), min(b, hi) + 1))
        cuts = sorted(edges)
        return [(cuts[k], cuts[k + 1] - 1) for k in range(len(cuts) - 1)
                if any(a <= cuts[k] and cuts[k + 1] - 1 <= b for a, b in ports)]

    @memo
    def blockers(self, ids: frozenset[int], proto: int, seg: Interval) -> list[AddrSet]:
        """Source sets whose union is who reaches these destinations on (proto, seg): each
        distinct src selector once (posture-bound rules as their filtered sets)."""
        sels: set[str] = set()
        sets: list[AddrSet] = []
        for p in self._profiles(ids):
            if proto in p.protos and _covers(p.ports, seg):
                sels |= p.plain
                sets.extend(self._src(i) for i in p.posture)
        sets.extend(self.resolver.src(s).addrs for s in sorted(sels))
        # Big sets first: they empty the remainder soonest.
        return sorted(sets, key=lambda a: -self.size(a))

    @memo
    def self_blocked(self, proto: int, seg: Interval, user: str) -> AddrSet:
        """The user's devices that already reach their own devices on (proto, seg)."""
        rules = [self.src(r) for r in self.self_rules
                 if proto in r.protos and _covers(r.ports, seg)]
        mine = self.points_of(self.user_addrs(user))
        hit = [(f, v) for f, v in mine if any(s.contains_int(f, v) for s in rules)]
        return AddrSet([(v, v) for f, v in hit if f == 4], [(v, v) for f, v in hit if f == 6])

    @memo
    def own_devices(self, point: tuple[int, int]) -> AddrSet:
        """The device addresses autogroup:self rules let `point` reach: those of each
        user whose devices hold it, paired as `_key` (a destination's owner) and
        `self_blocked` (that owner's devices) pair them."""
        # A user's devices (`user_addrs`) are their untagged ones, by lower-cased login.
        users = self.devices.users
        return union_all(users[u].addrs for u in {
            d.user.lower() for d in self.devices.devices_at(point) if d.user and not d.tags}
            if u in users)

    # --- what this side allows that the other does not -------------------------------------

    def new_pairs(self, old: Side, selectors: Selectors) -> list[_Frag]:
        """Pairs this side allows that `old` does not; the rules they come from become
        `changed_rules`."""
        frags: list[_Frag] = []
        changed: list[Rule] = []
        # Rules whose new sources are a few device addresses (a member added to a group
        # named by many rules): gathered per address, and each address's gains worked
        # out once over all of them (`_cut_points`), not rule by rule over each rule's
        # destination devices.
        by_point: dict[tuple[int, int], list[Rule]] = defaultdict(list)
        dsts: dict[int, AddrSet] = {}
        for rule, spelling in zip(self.compiled.rules, self.spelled, strict=True):
            if not rule.ports or _unchanged(rule, spelling, self, old, selectors):
                continue
            src = self.src(rule)
            if not src:
                continue
            changed.append(rule)
            if rule.self_dst:
                for user in sorted(self.resolver.by_user):
                    mine = self.user_addrs(user)
                    src_u = AddrSet(
                        [(v, v) for fam, v in self.points_of(mine) if fam == 4
                         and src.contains_int(4, v)],
                        [(v, v) for fam, v in self.points_of(mine) if fam == 6
                         and src.contains_int(6, v)])
                    if src_u:
                        _cut(rule, src_u, mine, old, frags, user)
            elif rule.dst:
                src, dst = _beyond_twins(rule, spelling, src, rule.dst, old)
                if not src or not dst:
                    continue
                points = _few_points(src, old)
                if points is None:
                    _cut(rule, src, dst, old, frags, None)
                    continue
                dsts[rule.index] = dst
                for point in points:
                    by_point[point].append(rule)
        # Addresses alike for the cut (a device's IPv4 and IPv6, devices of one user) go
        # together: the same rules gain them the same destinations.
        alike: dict[tuple[Any, ...], list[tuple[int, int]]] = defaultdict(list)
        for point, rules in sorted(by_point.items()):
            selves = frozenset(r.index for r in old.self_rules if old.src(r).contains_int(*point))
            own = old.own_devices(point) if selves else EMPTY
            alike[(tuple(r.index for r in rules), old.holding(point), selves, own)].append(point)
        by_index = {r.index: r for rules in by_point.values() for r in rules}
        for (indexes, holding, selves, own), points in alike.items():
            _cut_points(points, [by_index[i] for i in indexes], dsts, old, holding,
                        [r for r in old.self_rules if r.index in selves], own, frags)
        self.changed_rules = changed
        return frags

    # --- which changed rules a statement comes from -------------------------------------------

    @memo
    def touching(self, name: str, src: AddrSet) -> list[Rule]:
        """The changed rules whose sources include some of `src` (named `name`)."""
        # "Holds one of its device addresses, or (for addresses that are no device)
        # overlaps it" is the same as overlapping it. When every address of `src` is a
        # device, that is whether the rule's device points meet `src`'s: a C-speed set
        # test instead of interval bisection, per changed rule.
        if src.issubset(self.all_devices):
            mine = self.points_of(src)
            return [r for r in self.changed_rules if self._holds_some(r, src, mine)]
        return [r for r in self.changed_rules if self.src(r).overlaps(src)]

    def _holds_some(self, rule: Rule, src: AddrSet, points: list[tuple[int, int]]) -> bool:
        """Whether the rule's (posture-filtered) sources hold one of `points`, the device
        addresses that are all of `src`. Its set is asked (a bisection per point, or an
        interval walk) until it has been asked `_ASKED` times; then its device points
        are gathered once, for C-speed set tests (a plan names a few sources against
        many changed rules; a diff of deleted rules, thousands against a few rules)."""
        gathered = self._gathered.get(rule.index)
        if gathered is None:
            asked = self._asked[rule.index] = self._asked.get(rule.index, 0) + 1
            if asked > _ASKED:
                gathered = self._gathered[rule.index] = self.point_set(self.src(rule))
        if gathered is not None:
            return not gathered.isdisjoint(points)
        addrs = self.src(rule)
        if len(points) <= _FEW_POINTS:
            return any(addrs.contains_int(f, v) for f, v in points)
        return addrs.overlaps(src)

    def responsible(self, name: str, src: AddrSet, dst: AddrSet, ports: tuple[Interval, ...],
                    protos: set[int], is_self: bool) -> tuple[RuleRef, ...]:
        """The changed rules a statement (`name` gains `ports` on `dst`) comes from."""
        refs: set[RuleRef] = set()
        for r in self.touching(name, src):
            if r.protos.isdisjoint(protos):
                continue
            if not any(a <= d and c <= b for a, b in r.ports for c, d in ports):
                continue
            # A self change comes from self rules only; a plain one from rules reaching
            # its destinations, or from a self rule whose user's devices were only partly
            # covered.
            if r.self_dst if is_self else (r.self_dst or r.dst.overlaps(dst)):
                refs.add(self.ref(r))
        return tuple(sorted(refs, key=lambda ref: (str(ref), ref.label)))


class _Profile(NamedTuple):
    """Rules of one destination group alike in ports and protocols (`Side._profiles`)."""

    ports: tuple[Interval, ...]
    protos: frozenset[int]
    plain: frozenset[str]  # the src selectors of those without posture
    posture: list[int]  # those with posture (their index): their sources are filtered
    ids: frozenset[int]  # all of them


def _same(a: AddrSet, b: AddrSet) -> bool:
    return a is b or a == b  # one object per value over one inventory (`_canon`)


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


#: A rule's `Side.signature` with its selectors as written (an attrgetter: a tuple per
#: rule of both policies, built at C speed).
_spelling: Callable[[Rule], tuple[Any, ...]] = attrgetter(
    "src_sel", "dst_sel", "ports", "protos", "self_dst", "posture")


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
        self.alike = Alike(self.a, self.b)
        same_sets = self.a is self.b
        self.changed_src = set() if same_sets else {
            s for s in a.src_selectors | b.src_selectors if not self._same(s, False)}
        self.changed_dst = set() if same_sets else {
            s for s in a.dst_selectors | b.dst_selectors if not self._same(s, True)}
        a.pair(b, self.changed_src, self.changed_dst)
        b.pair(a, self.changed_src, self.changed_dst)

    def _same(self, selector: str, dst: bool) -> bool:
        return (not self.retagged and self.alike(selector)) or \
            self._resolves_equal(selector, dst)

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
    return old.has_signature(new.signature(rule))


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
        if dst.issubset(twin.dst):
            src = src - old.src(twin)
        elif src.issubset(old.src(twin)):
            dst = dst - twin.dst
    return src, dst


#: Sources of at most this many device addresses are cut point by point (`_cut`).
_FEW_POINTS = 8
#: `Side._holds_some` asks a rule's source set this many times before it gathers the set's
#: device points (`point_set`) for C-speed set tests.
_ASKED = 128
#: `Side._key` asks each destination selector about this many addresses (those of
#: destinations of at most as many) before it builds the index of every device address
#: (`_dst_index`). The first address asked costs about a tenth of the index (the
#: selectors' sets are built then), the next ones little: the devices of a member added
#: to a group named as a destination (the plan's access diff on the large tailnet,
#: 0.58 -> 0.56 s). A larger destination builds the index at once.
_POINTWISE_KEYS = 4


def _few_points(src: AddrSet, old: Side) -> list[tuple[int, int]] | None:
    """`src`'s device addresses when it is a few of them (and nothing else), else None."""
    # Few addresses, not few intervals: a tag's devices numbered in a row are one interval
    # of thousands of points, and each point costs a pass over every source selector.
    if len(src.v4) + len(src.v6) > _FEW_POINTS or src.size() > _FEW_POINTS:
        return None
    points = old.points_of(src)
    return points if len(points) == src.size() else None  # else some are no device


def _cut_points(points: list[tuple[int, int]], rules: list[Rule], dsts: Mapping[int, AddrSet],
                old: Side, holding: frozenset[int], selves: list[Rule], own: AddrSet,
                frags: list[_Frag]) -> None:
    """What the device addresses `points` gain through `rules` (each reaching
    `dsts[rule.index]` from them) that `old` does not allow them, as fragments. In
    `old`, the same rules hold each of them (`holding`, and the autogroup:self rules
    `selves`, through which they reach `own`).

    The same pairs `_cut` finds rule by rule, worked out once for the addresses: only
    `old`'s rules holding them can block them, so per protocol the ports are cut where
    any of those rules (or of `rules`) starts or stops, and on each segment the
    destinations gained are the new rules' less the old ones'."""
    # Destinations as device points (sets of tuples: C-speed unions and differences),
    # and what is no device (`rest`, rare) as address sets beside them.
    mine = {r.index: old.point_set(dsts[r.index]) for r in rules}
    rest = union_all(old.beyond_devices(dsts[r.index]) for r in rules)
    reached_points = frozenset().union(*mine.values())
    # What `old` lets them reach, per (ports, protocols) of its rules: an address is
    # often held by a thousand rules (`*`, autogroup:member) and a policy repeats a few
    # port lists, so each list's destinations are one union, not a set per rule; and
    # only what lies among `reached` can block anything.
    by_profile: dict[tuple[tuple[Interval, ...], frozenset[int]], list[Rule]] = \
        defaultdict(list)
    for i in sorted(holding):
        rule = old.rules[i]
        by_profile[rule.ports, rule.protos].append(rule)
    held: list[tuple[tuple[Interval, ...], frozenset[int], frozenset[tuple[int, int]],
                     AddrSet]] = []
    # Per destination selector (rules share them: a few tags), its set as both sides
    # share it (`_canon`), not per rule: each rule's union would be built just for this.
    among: dict[str, tuple[frozenset[tuple[int, int]], AddrSet]] = {}
    for (ports, protos), members in by_profile.items():
        parts, rests = [], []
        for rule in members:
            for sel in rule.dst_sel:
                found = among.get(sel)
                if found is None:
                    addrs = old.canon_dst(sel)
                    beyond = old.beyond_devices(addrs) if rest else EMPTY
                    found = among[sel] = (reached_points & old.point_set(addrs),
                                          beyond & rest if beyond else EMPTY)
                parts.append(found[0])
                if found[1]:
                    rests.append(found[1])
        blocked = frozenset().union(*parts)
        blocked_rest = union_all(rests)
        if blocked or blocked_rest:
            held.append((ports, protos, blocked, blocked_rest))
    own_points = reached_points & old.point_set(own)  # devices only: nothing in `rest`
    src = AddrSet([(v, v) for f, v in points if f == 4], [(v, v) for f, v in points if f == 6])
    for proto in sorted({p for r in rules for p in r.protos}):
        ours = [r for r in rules if proto in r.protos]
        theirs = [h for h in held if proto in h[1]]
        self_ports = [r.ports for r in selves if proto in r.protos] if own_points else []
        edges: set[int] = set()
        for ports in [*(r.ports for r in ours), *(h[0] for h in theirs), *self_ports]:
            for a, b in ports:
                edges.update((a, b + 1))
        for a, b in pairwise(sorted(edges)):
            seg = (a, b - 1)
            reach = [r for r in ours if _covers(r.ports, seg)]
            if not reach:
                continue
            gained = set().union(*(mine[r.index] for r in reach))
            gained_rest = union_all(old.beyond_devices(dsts[r.index]) for r in reach) \
                if rest else EMPTY
            selfish = any(_covers(ports, seg) for ports in self_ports)
            for ports, _, blocked, blocked_rest in theirs:
                if _covers(ports, seg):
                    gained -= blocked
                    if gained_rest:
                        gained_rest = gained_rest - blocked_rest
            if selfish:
                gained -= own_points
            if gained or gained_rest:
                dst = AddrSet([(v, v) for f, v in gained if f == 4],
                              [(v, v) for f, v in gained if f == 6])
                frags.append(_Frag(proto, seg, dst | gained_rest if gained_rest else dst,
                                   src, None))


def _cut(rule: Rule, src: AddrSet, dst: AddrSet, old: Side, frags: list[_Frag],
         user: str | None) -> None:
    """`rule`'s pairs (src x dst on its ports) that `old` does not allow, as fragments:
    per destination group and port segment, `src` less whoever reaches them in `old`."""
    # A few source devices (an autogroup:self rule's user, say): which of `old`'s rules
    # hold each of them is one set per device, so a piece's blockers are a set
    # intersection instead of a subtraction of every blocking source set.
    points = _few_points(src, old)
    holders = [old.holding(p) for p in points] if points is not None else []
    for (ids, owner), addrs in old.dst_groups(dst).items():
        for proto in sorted(rule.protos):
            for seg in old.segments(rule.ports, ids, proto, owner is not None):
                gained = src
                if points is not None:
                    reach = old.covering(ids, proto, seg)
                    left = [p for p, h in zip(points, holders, strict=True)
                            if h.isdisjoint(reach)]
                    if len(left) < len(points):
                        gained = AddrSet([(v, v) for f, v in left if f == 4],
                                         [(v, v) for f, v in left if f == 6])
                else:
                    for blocker in old.blockers(ids, proto, seg):
                        gained = gained - blocker
                        if not gained:
                            break
                if gained and owner is not None:
                    gained = gained - old.self_blocked(proto, seg, owner)
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


def _sweep(sets: Sequence[AddrSet]
           ) -> dict[frozenset[int], tuple[list[Interval], list[Interval]]]:
    """The addresses of `sets` grouped by which of them (their positions) hold each:
    a sweep over their intervals, per family; the stretches of each group as v4 and v6
    intervals, the groups in the order the sweep first meets them."""
    out: dict[frozenset[int], tuple[list[Interval], list[Interval]]] = {}
    if len(sets) == 1:
        if sets[0]:
            out[frozenset({0})] = (list(sets[0].v4), list(sets[0].v6))
        return out
    for fam in (4, 6):
        events: list[tuple[int, int, int]] = []
        for k, addrs in enumerate(sets):
            for a, b in (addrs.v4 if fam == 4 else addrs.v6):
                events.append((a, 1, k))
                events.append((b + 1, -1, k))
        events.sort()
        active: set[int] = set()
        for n, (pos, step, k) in enumerate(events):
            if step > 0:
                active.add(k)
            else:
                active.discard(k)
            nxt = events[n + 1][0] if n + 1 < len(events) else None
            if active and nxt is not None and nxt > pos:
                lists = out.setdefault(frozenset(active), ([], []))
                lists[0 if fam == 4 else 1].append((pos, nxt - 1))
    return out


def _merge_dsts(frags: list[_Frag]) -> list[tuple[AddrSet, AddrSet]]:
    """[(src, dst)] with disjoint dsts: destinations reached by the same fragments
    gain the union of their sources; destinations gaining the same sources merge."""
    if len(frags) == 1:
        return [(frags[0].src, frags[0].dst)]
    by_src: dict[AddrSet, tuple[list[Interval], list[Interval]]] = {}
    for sig, (v4, v6) in _sweep([f.dst for f in frags]).items():
        lists = by_src.setdefault(union_all(frags[i].src for i in sig), ([], []))
        lists[0].extend(v4)
        lists[1].extend(v6)
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
    frags = new.new_pairs(old, selectors)
    changed = new.changed_rules
    if not frags:
        return []
    atoms = _atoms(frags, new)
    # Names are chosen among those inside what is named (see `Namer`).
    src_namer = Namer(new.compiled, dst=False, devices=new.devices,
                      within=union_all(src for src, _, _, _ in atoms))
    dst_namer = Namer(new.compiled, dst=True, devices=new.devices,
                      within=union_all(dst for _, dst, _, _ in atoms if dst is not None))
    src_hints = sorted({t for r in changed for t in r.src_text})
    dst_hints = sorted({split_acl_dst(t)[0] if r.kind == "acl" else t
                        for r in changed for t in r.dst_text if t != SELF})
    # 1. name the sources: name -> [(dst or None for autogroup:self, proto, seg)]
    records: dict[str, list[tuple[AddrSet | None, int, Interval]]] = defaultdict(list)
    addrs_of: dict[str, AddrSet] = {}
    for src, dst, proto, seg in atoms:
        for name, addrs in src_namer.name(src, src_hints):
            # One name can stand for other addresses in other atoms (the addresses
            # that are no device, say): the name's statements are about all of them.
            addrs_of[name] = addrs_of[name] | addrs if name in addrs_of else addrs
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
            devices = new.count(addrs_of[name])
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
            devices = new.count(dst)
        protos = DEFAULT if not proto_text else {PROTO_NUMBER.get(proto_text, 0)}
        refs = new.responsible(name, addrs_of[name], dst, ports, set(protos), is_self)
        if cite:
            about = addrs_of[name] if is_self else addrs_of[name] | dst
            cited = {ref for addrs, ref in cite if addrs.overlaps(about)}
            if cited:
                refs = tuple(sorted(set(refs) | cited, key=lambda ref: (str(ref), ref.label)))
        out.append(AccessChange(name, dst_names, _ports_text(ports), proto_text, devices, refs))
    out.sort(key=lambda c: (c.src, c.dst, c.proto, c.ports))
    return out


def _families(addrs: AddrSet) -> set[int]:
    return {fam for fam, intervals in ((4, addrs.v4), (6, addrs.v6)) if intervals}


def _spell(by_proto: Mapping[int, Iterable[Interval]]) -> list[tuple[str, tuple[Interval, ...]]]:
    """Per-protocol ports as `ip` parts: one ("", ports) if every default protocol gains
    the same ports, else (protocol name, ports) each."""
    merged = {p: merge_intervals(segs) for p, segs in by_proto.items()}
    values = set(merged.values())
    if set(merged) == DEFAULT and len(values) == 1:
        return [("", values.pop())]
    return [(PROTO_TEXT.get(p, str(p)), ports) for p, ports in sorted(merged.items())]


def _by_ports(recs: list[tuple[AddrSet, int, Interval]]
              ) -> list[tuple[AddrSet, dict[int, list[Interval]]]]:
    """Destinations split where what they gain differs, grouped by the set of
    (protocol, segment) gained."""
    # Records with one destination set gain together: sweep the distinct sets only.
    per_dst: dict[AddrSet, list[tuple[int, Interval]]] = {}
    for dst, proto, seg in recs:
        per_dst.setdefault(dst, []).append((proto, seg))
    dsts = list(per_dst)
    out: list[tuple[AddrSet, dict[int, list[Interval]]]] = []
    for sig, (v4, v6) in _sweep(dsts).items():
        by_proto: dict[int, list[Interval]] = defaultdict(list)
        for k in sig:
            for proto, seg in per_dst[dsts[k]]:
                by_proto[proto].append(seg)
        out.append((AddrSet(v4, v6), by_proto))
    return out


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
    # Synthesised once: the diagram's device tags read the same inventory the diff ran on.
    inv = inventory if inventory is not None else diff_inventory(before_policy, after_policy)
    diff = _access_diff(before_policy, after_policy, inv, before_sources,
                        after_sources, after_compiled, retag,
                        retag_sources if retag_sources is not None else after_sources)
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
                 inv: Inventory, before_sources: SourceMap | None,
                 after_sources: SourceMap | None,
                 after_compiled: CompiledPolicy | None,
                 retag: Sequence[DeviceTags] = (),
                 retag_sources: SourceMap | None = None) -> AccessDiff:
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
            before = Side(before_policy, inv, before_sources, devices, after if same else None,
                          peer=after)
        else:
            before = Side(before_policy, inv, before_sources, devices)
            after = Side(after_policy, inv, after_sources, devices, before if same else None,
                         peer=before)
    if _apps(before.compiled) != _apps(after.compiled):
        notes.append("application capability grants (app) changed; they are not shown here")
    # SSH rules decide who may log in over Tailscale SSH, not who reaches which port: a
    # plan that only changes them must not read as if no access changed.
    if (before_policy.get("ssh") or []) != (after_policy.get("ssh") or []):
        notes.append("SSH rules changed (who may log in with Tailscale SSH); they are not "
                     "shown here: read the ssh changes above")
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
