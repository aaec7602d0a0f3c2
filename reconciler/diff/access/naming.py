"""Name an address set by the coarsest identities the policy uses for it.

diff/access/ (imports the engine's `addrset`, `resolve` and `compile` types,
`reconciler.core.inventory`, `reconciler.core.memo` and the selector constants of
`reconciler.validate.selectors`). Given a set of addresses (who gained, or what they
gained access to), pick the fewest names
whose addresses lie *entirely* inside the set: `*`, autogroups, groups, tags, hosts,
ipsets, users, and the selectors the responsible rules were written with. A group is
only named when every one of its devices is in the set, so a group never stands for
members that did not change. Whatever no identity covers is spelled as IPs or ranges.

The rules a change cites are named here too (`cite`): by their `name:` and file:line,
found by path in the policy they come from (`entry_citer`) or, for the live policy, by
content in the fragments that were applied or are desired (`live_citer`), else at the
live text's own line.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import repeat
from typing import Any

from reconciler.core.errors import SelectorError
from reconciler.core.inventory import Device, Inventory
from reconciler.core.memo import memo
from reconciler.core.source import Location, SourceMap
from reconciler.diff.access.model import LIVE_POLICY, AccessChange, AccessDiff, RuleRef
from reconciler.engine.addrset import ALL, EMPTY, INTERNET, AddrSet, parse_ip
from reconciler.engine.compile import CompiledPolicy
from reconciler.engine.resolve import Resolver, device_addrs
from reconciler.validate.selectors import AUTOGROUP_MEMBER, AUTOGROUP_TAGGED, ROLE_AUTOGROUPS

NON_DEVICE = "(addresses that are not tailnet devices)"
_RANK = {"*": 0, "autogroup": 1, "group": 2, "tag": 3, "host": 4, "ipset": 5, "user": 6,
         "other": 7}


@dataclass(frozen=True, eq=False)
class Candidate:
    name: str
    addrs: AddrSet
    rank: int
    size: int
    points: tuple[tuple[int, int], ...] | None = None  # device-only candidates: addresses

    def inside(self, addrs: AddrSet) -> bool:
        if self.points is not None:
            return all(addrs.contains_int(f, v) for f, v in self.points)
        return self.addrs.issubset(addrs)

    def touches(self, addrs: AddrSet) -> bool:
        if self.points is not None:
            return any(addrs.contains_int(f, v) for f, v in self.points)
        return self.addrs.overlaps(addrs)


def _kind(name: str) -> str:
    if name == "*":
        return "*"
    for prefix in ("autogroup", "group", "tag", "ipset"):
        if name.startswith(prefix + ":"):
            return prefix
    if "@" in name:
        return "user"
    return "other"


class DeviceIndex:
    """What naming needs of the inventory alone: device points, their owners and one
    candidate per user. Built once per diff and shared by every `Namer` (both policies,
    sources and destinations); candidates are immutable, so sharing them is safe."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.canon: dict[AddrSet, AddrSet] = {}  # one shared object per set value
        self._text: tuple[Mapping[str, Any], str] | None = None

    # Device addresses are parsed on first use: a diff whose rules all compare equal
    # (the usual plan) never needs them.

    @cached_property
    def all_devices(self) -> AddrSet:
        return device_addrs(self.inventory.devices)

    @cached_property
    def points(self) -> dict[int, list[int]]:
        """Every device address, per family, sorted."""
        return {fam: [a for a, b in intervals for a in range(a, b + 1)]
                for fam, intervals in ((4, self.all_devices.v4), (6, self.all_devices.v6))}

    @cached_property
    def owner(self) -> dict[tuple[int, int], Device]:
        """Device address -> its device."""
        return {parse_ip(ip): d for d in self.inventory.devices for ip in d.addresses}

    def devices_at(self, point: tuple[int, int]) -> tuple[Device, ...]:
        """Every device that has the address `point` (`owner` keeps one of them)."""
        return self._devices_at.get(point, ())

    @cached_property
    def _devices_at(self) -> dict[tuple[int, int], tuple[Device, ...]]:
        found: dict[tuple[int, int], list[Device]] = defaultdict(list)
        for d in self.inventory.devices:
            for ip in d.addresses:
                found[parse_ip(ip)].append(d)
        return {p: tuple(devices) for p, devices in found.items()}

    @memo
    def ids_at(self, point: tuple[int, int]) -> frozenset[int]:
        """The ids (`id`) of the devices that have the address `point`."""
        return frozenset(map(id, self.devices_at(point)))

    @cached_property
    def users(self) -> dict[str, Candidate]:
        """Lower-cased login -> the candidate of the user: the addresses whose `owner` is
        an untagged device of theirs, shared-in ones too, as the policy's user selector
        means (`Resolver`)."""
        # Straight from the already-parsed device addresses (thousands of them).
        logins: dict[str, str] = {}
        user_points: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for point, d in sorted(self.owner.items()):
            if d.user and not d.tags:
                key = d.user.lower()
                logins.setdefault(key, d.user)
                user_points[key].append(point)
        out: dict[str, Candidate] = {}
        for key in sorted(logins):
            points = tuple(user_points[key])
            addrs = AddrSet([(v, v) for f, v in points if f == 4],
                            [(v, v) for f, v in points if f == 6])
            out[key] = Candidate(logins[key], addrs, _RANK["user"], len(points), points)
        return out

    @cached_property
    def user_at(self) -> dict[tuple[int, int], list[Candidate]]:
        """Device address -> the candidate of the user owning it (see `users`)."""
        user_at: dict[tuple[int, int], list[Candidate]] = {}
        for cand in self.users.values():
            for p in cand.points or ():
                user_at.setdefault(p, []).append(cand)
        return user_at

    def points_in(self, addrs: AddrSet) -> list[tuple[int, int]]:
        """The device addresses inside `addrs`, as (family, value) points."""
        found: list[tuple[int, int]] = []
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            points = self.points[fam]
            for a, b in intervals:
                lo, hi = bisect_left(points, a), bisect_right(points, b)
                if lo < hi:  # zip and a slice: C-level, no generator
                    found.extend(zip(repeat(fam, hi - lo), points[lo:hi], strict=True))
        return found

    @memo
    def candidate(self, name: str, addrs: AddrSet, rank: int, loose: bool) -> Candidate:
        """The candidate for `name` standing for `addrs`, shared by every `Namer` that
        finds the same name with the same addresses (both policies, both sides)."""
        addrs = self.canon.setdefault(addrs, addrs)
        if loose or not addrs.issubset(self.all_devices):
            return Candidate(name, addrs, rank, addrs.size())
        points = tuple((fam, value) for fam, intervals in ((4, addrs.v4), (6, addrs.v6))
                       for a, b in intervals for value in range(a, b + 1))
        return Candidate(name, addrs, rank, len(points), points)


    @memo
    def by_point(self, cands: tuple[Candidate, ...], within: frozenset[tuple[int, int]] | None
                 ) -> dict[tuple[int, int], list[Candidate]]:
        """Device point -> the candidates holding it (`cands` in order, then the user),
        shared by namers that found the very same candidates (both policies when their
        groups and tags resolve alike, often sources and destinations too). `within`:
        the only points named (None: all of them)."""
        found: dict[tuple[int, int], list[Candidate]] = {}
        for cand in cands:
            for p in cand.points or ():
                found.setdefault(p, []).append(cand)
        user_at = self.user_at
        if within is None:
            for p, users in user_at.items():
                found.setdefault(p, []).extend(users)
        else:
            for p in within:
                here = user_at.get(p)
                if here is not None:
                    found.setdefault(p, []).extend(here)
        return found

    def rules_text(self, policy: Mapping[str, Any]) -> str:
        """The policy's rule sections as text, to spot the autogroups it names."""
        if self._text is None or self._text[0] is not policy:
            self._text = (policy, repr([policy.get(k)
                                        for k in ("acls", "grants", "tagOwners", "ssh")]))
        return self._text[1]


class Namer:
    """Names address sets on one side of a rule (sources or destinations) of one policy."""

    def __init__(self, compiled: CompiledPolicy, *, dst: bool,
                 devices: DeviceIndex | None = None, within: AddrSet | None = None) -> None:
        """`within`: every set this namer will be asked to name lies inside it, so a
        name standing for addresses beyond it can never be chosen and is not kept (the
        sources an access diff names are often a few devices of thousands)."""
        self.resolver: Resolver = compiled.resolver
        self.dst = dst
        self.within = within
        if devices is None or devices.inventory is not compiled.inventory:
            devices = DeviceIndex(compiled.inventory)
        self.devices = devices
        self.all_devices = devices.all_devices
        self.points = devices.points
        self.owner = devices.owner
        self.star = ALL if dst else self._resolve("*") or EMPTY
        self._by_point: dict[tuple[int, int], list[Candidate]] = {}  # read-only once built
        self._pending: list[Candidate] | None = None
        self._loose: list[Candidate] = []
        self._cache: dict[tuple[AddrSet, tuple[str, ...]], list[tuple[str, AddrSet]]] = {}
        self._build(compiled)

    # --- candidates -----------------------------------------------------------------------

    def _resolve(self, text: str) -> AddrSet | None:
        try:
            target = self.resolver.dst(text) if self.dst else self.resolver.src(text)
        except SelectorError:
            return None
        return None if target.self_ else target.addrs

    def _add(self, name: str, addrs: AddrSet | None, *, loose: bool = False,
             rank: int | None = None) -> Candidate | None:
        if addrs is None or not addrs:
            return None
        if self.within is not None and not addrs.issubset(self.within):
            return None  # never inside a set to name: never chosen
        rank = _RANK[_kind(name)] if rank is None else rank
        cand = self.devices.candidate(name, addrs, rank, loose)
        if cand.points is None:
            self._loose.append(cand)
        else:
            assert self._pending is not None, "device candidates are added while building"
            self._pending.append(cand)
        return cand

    def _build(self, compiled: CompiledPolicy) -> None:
        r = self.resolver
        self._pending = []
        self._add("*", self.star, loose=True)
        autogroups = {AUTOGROUP_MEMBER, AUTOGROUP_TAGGED}
        text = self.devices.rules_text(compiled.policy)
        autogroups |= {a for a in ROLE_AUTOGROUPS | {"autogroup:shared"} if a in text}
        for name in sorted(autogroups):
            self._add(name, self._resolve(name))
        if self.dst and "autogroup:internet" in text:
            self._add("autogroup:internet", INTERNET, loose=True)
        for name in sorted(r.groups):
            self._add(name, self._resolve(name))
        for name in sorted(r.tags):
            self._add(name, self._resolve(name))
        for name in sorted(r.hosts):
            self._add(name, self._resolve(name), rank=_RANK["host"])
        for name in sorted(r.ipsets):
            self._add(name, self._resolve(name))
        within = None if self.within is None else frozenset(self.points_in(self.within))
        self._by_point = self.devices.by_point(tuple(self._pending), within)
        self._pending = None

    @memo
    def _hint(self, text: str) -> Candidate | None:
        return self._add(text, self._resolve(text), loose=True, rank=-1)

    # --- naming -----------------------------------------------------------------------------

    def _touched(self, addrs: AddrSet) -> set[Candidate]:
        found: set[Candidate] = set()
        for fam, intervals in ((4, addrs.v4), (6, addrs.v6)):
            points = self.points[fam]
            for a, b in intervals:
                for k in range(bisect_left(points, a), bisect_right(points, b)):
                    found.update(self._by_point.get((fam, points[k]), ()))
        return found

    def points_in(self, addrs: AddrSet) -> list[tuple[int, int]]:
        return self.devices.points_in(addrs)

    def name(self, addrs: AddrSet, hints: Iterable[str] = ()) -> list[tuple[str, AddrSet]]:
        """[(name, the addresses it stands for)], coarsest first; together exactly `addrs`."""
        hint_names = tuple(sorted(set(hints)))
        key = (addrs, hint_names)
        found = self._cache.get(key)
        if found is not None:
            return found
        # Work on device points (sets of ints) rather than interval arithmetic: the sets
        # named here can be large and fragmented, and names are mostly device identities.
        pts = self.points_in(addrs)
        inside = set(pts)
        has_other = addrs.size() > len(pts)
        pool: set[Candidate] = set()
        for p in pts:
            pool.update(self._by_point.get(p, ()))
        for c in (self._hint(h) for h in hint_names):
            if c is not None:
                pool.add(c)
        if has_other:
            pool.update(self._loose)
        ordered = sorted(pool, key=lambda c: (c.rank >= 0, -c.size, c.rank, c.name))
        uncovered = set(inside)
        other = (addrs - self.all_devices) if has_other else EMPTY
        out: list[tuple[str, AddrSet]] = []
        for cand in ordered:
            if not uncovered and not other:
                break
            if cand.points is not None:
                if not uncovered.intersection(cand.points) or not inside.issuperset(cand.points):
                    continue
            else:
                if not cand.addrs.issubset(addrs):
                    continue
                cand_pts = self.points_in(cand.addrs)
                if not uncovered.intersection(cand_pts) and not cand.addrs.overlaps(other):
                    continue
                other = other - cand.addrs if other else other
                uncovered.difference_update(cand_pts)
                out.append((cand.name, cand.addrs))
                continue
            uncovered.difference_update(cand.points)
            out.append((cand.name, cand.addrs))
        if uncovered or other:
            out.extend(self._leftover(uncovered, other))
        self._cache[key] = out
        return out

    def _leftover(self, points: set[tuple[int, int]],
                  other: AddrSet) -> list[tuple[str, AddrSet]]:
        out: list[tuple[str, AddrSet]] = []
        by_device: dict[str, list[tuple[int, int]]] = {}
        for p in sorted(points):
            by_device.setdefault(self.owner[p].name, []).append(p)
        for name, pts in sorted(by_device.items()):
            device = self.owner[pts[0]]
            addrs = AddrSet([(v, v) for f, v in pts if f == 4], [(v, v) for f, v in pts if f == 6])
            if len(pts) == len(device.addresses) and device.ipv4:
                # A whole device no identity covers: its address, with its name for people.
                out.append((f"{device.ipv4} ({name})", addrs))
            else:
                out.extend((text, AddrSet.parse(text)) for text in addrs.to_strings())
        if not other:
            return out
        pieces = other.to_strings()
        if len(pieces) <= 3:
            out.extend((text, AddrSet.parse(text)) for text in pieces)
        else:
            # Many holes punched by devices: one honest name instead of dozens of ranges.
            out.append((NON_DEVICE, other))
        return out


# --- the rules a change cites -----------------------------------------------------------------

Citer = Callable[[RuleRef], RuleRef]
# Entry names by (section, index), as `planner.names_of` gives them; looked up by a rule's
# path, a PathKey (hence Any: a Mapping's key type is invariant).
EntryNames = Mapping[Any, str]
# A policy the cited rules may come from: (document, its sources, entry names).
Known = tuple[Mapping[str, Any], SourceMap | None, EntryNames]


def cite(diff: AccessDiff, *, gained: Citer | None = None,
         lost: Citer | None = None) -> AccessDiff:
    """`diff` with the rules of its gained and lost changes named and located by the
    citers (rules read in file and line order)."""
    def each(changes: tuple[AccessChange, ...], citer: Citer | None
             ) -> tuple[AccessChange, ...]:
        if citer is None:
            return changes
        return tuple(replace(c, rules=tuple(sorted((citer(r) for r in c.rules),
                                                   key=_reading_order)))
                     for c in changes)

    return replace(diff, gained=each(diff.gained, gained), lost=each(diff.lost, lost))


def _reading_order(ref: RuleRef) -> tuple[Any, ...]:
    loc = ref.location
    return (loc is None, loc.file if loc else "", loc.line if loc else 0, ref.label)


def entry_citer(sources: SourceMap | None, names: EntryNames) -> Citer:
    """Rules of the policy these sources and names describe, cited by path."""
    def citer(ref: RuleRef) -> RuleRef:
        entry = ref.path[:2]
        location = ref.location
        if location is None and sources is not None and len(entry) == 2:
            location = sources.at(entry)
        return replace(ref, location=location, name=names.get(entry, ref.name))

    return citer


def live_citer(live: Mapping[str, Any], live_sources: Callable[[], SourceMap | None],
               known: Sequence[Known]) -> Citer:
    """Rules of the live policy: an entry the same as one of a `known` policy (the
    applied revision first, then the desired state) is cited at that one's name and
    file:line; one in none of them (an edit made outside git) at the live text's line,
    as `live policy, grants[6] at line 40`. `live_sources` gives the live text's
    locations: asked once, and only for such an entry (reading them means parsing the
    whole live text again, and most plans cite every rule from the fragments)."""
    by_content: list[dict[str, dict[str, int]]] = [{} for _ in known]
    parsed: list[SourceMap | None] = []

    def find(k: int, section: str, text: str) -> int | None:
        table = by_content[k]
        if section not in table:
            entries = known[k][0].get(section)
            found: dict[str, int] = {}
            for j, entry in enumerate(entries if isinstance(entries, list) else []):
                found.setdefault(_canonical(entry), j)
            table[section] = found
        return table[section].get(text)

    def citer(ref: RuleRef) -> RuleRef:
        if ref.location is not None or len(ref.path) != 2 or not isinstance(ref.path[1], int):
            return ref
        section, i = str(ref.path[0]), ref.path[1]
        entries = live.get(section)
        if not isinstance(entries, list) or not 0 <= i < len(entries):
            return ref
        text = _canonical(entries[i])
        for k, (_, sources, names) in enumerate(known):
            j = find(k, section, text)
            if j is not None and sources is not None and sources.at((section, j)):
                return replace(ref, location=sources.at((section, j)),
                               name=names.get((section, j)))
        if not parsed:
            parsed.append(live_sources())
        at = parsed[0].at((section, i)) if parsed[0] is not None else None
        return replace(ref, location=Location(LIVE_POLICY, at.line, at.col)) if at else ref

    return citer


def _canonical(entry: Any) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
