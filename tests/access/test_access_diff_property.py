"""The access diff against both policies evaluated in full, on generated small tailnets.

For generated pairs of policies (ACLs and grants with varied sources, destinations,
ports, protocols and postures; group, host and rule edits between the two) over a
generated tailnet, the allow relation of each policy is enumerated by brute force over
every (source address, destination address, protocol, port) and compared with what the
diff says:

* every statement of the diff is true: each (source, destination, protocol, port) it
  names is allowed after and not before (gained), or the other way round (lost);
* nothing that changes is missing: each changed tuple is named by some statement;
* the brute force agrees with the engine's own rule index on every changed tuple (and a
  sample of unchanged ones), so "allowed" means what `explain` and the tests mean.

Exact but cheap: addresses and ports are cut into classes at every boundary any rule
of either policy (and any name in the diff) has, so one representative per class
stands for all of it; each device address is a class of its own (posture and
autogroup:self depend on the device). Pairs are of one address family (a packet's
source and destination are). Bounded: a few devices and rules per example, examples
from the loaded Hypothesis profile (`tests/conftest.py`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import CompileError, SelectorError
from reconciler.core.inventory import SYNTHETIC_ID, Device, Inventory, User
from reconciler.diff.access import AccessChange, AccessDiff, access_diff
from reconciler.diff.access.compute import PROTO_NUMBER
from reconciler.diff.access.naming import NON_DEVICE
from reconciler.engine.addrset import AddrSet, parse_ip, union_all
from reconciler.engine.compile import CompiledPolicy, compile_policy
from reconciler.engine.index import Source
from reconciler.engine.inventory_io import with_named_identities
from reconciler.engine.resolve import Resolver
from reconciler.engine.tests_runner import Runner
from reconciler.validate.ports import DEFAULT_PROTOCOLS, PROTOCOL_NAMES
from tests.conftest import examples

USERS = ["a@x.com", "b@x.com", "c@y.com", "d@x.com"]
TAGS = ["tag:web", "tag:db", "tag:ci"]
SRC = [*USERS, *TAGS, "group:eng", "group:ops", "*", "autogroup:member",
       "autogroup:tagged", "autogroup:admin", "h1", "lab", "100.64.0.0/30", "10.0.0.0/8",
       "user:*@x.com", "fd7a:115c:a1e0::1", "ipset:lab", "autogroup:danger-all",
       "autogroup:shared"]
DST = [*(s for s in SRC if s != "autogroup:danger-all"), "autogroup:self", "autogroup:self", "autogroup:internet", "100.64.0.9",
       "0.0.0.0/0", "8.8.8.8"]
PORTS = ["22", "80,443", "1-1024", "*", "443", "5432", "20-25"]
IPS = ["tcp:22", "udp:53", "*", "443", "icmp:*", "tcp:80-90", "tcp:1-1024", "udp:*",
       "22-443", "sctp:5"]
HOST_VALUES = ["100.64.0.1", "10.0.0.0/8", "100.64.0.2/31", "fd7a:115c:a1e0::2",
               "100.64.0.4"]
IPSETS = [["add 10.0.0.0/8", "remove host:lab"], ["add host:h1", "add 100.64.0.5"],
          ["add 100.64.0.0/29", "remove 100.64.0.2"]]
POSTURES = {"posture:linux": ["node:os == 'linux'"]}
DEFAULT = frozenset(DEFAULT_PROTOCOLS)

# --- the tailnet -------------------------------------------------------------------------------

_owner = st.one_of(
    st.fixed_dictionaries({"user": st.sampled_from(USERS)}),
    st.fixed_dictionaries({"tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2,
                                            unique=True)}))


@st.composite
def tailnets(draw: st.DrawFn) -> Inventory:
    count = draw(st.integers(1, 8))
    v4s = draw(st.lists(st.integers(1, 12), min_size=count, max_size=count, unique=True))
    devices = []
    for i, n in enumerate(v4s):
        owner = draw(_owner)
        v6 = f"fd7a:115c:a1e0::{n:x}" if draw(st.integers(0, 3)) else None
        routes = ("10.0.0.0/24",) if owner.get("tags") and draw(st.integers(0, 4)) == 0 else ()
        posture = draw(st.sampled_from([{}, {"node:os": "linux"}, {"node:os": "mac"}]))
        devices.append(Device(name=f"n{i}", ipv4=f"100.64.0.{n}", ipv6=v6,
                              user=owner.get("user"), tags=tuple(owner.get("tags", ())),
                              approved_routes=routes, posture=posture, id=f"id-n{i}",
                              shared=bool(owner.get("user")) and draw(st.integers(0, 7)) == 0))
    users = tuple(User(login=u, role="admin" if u == "a@x.com" else "member") for u in USERS)
    return Inventory(users=users, devices=tuple(devices), source="generated")


# --- the policies ------------------------------------------------------------------------------

_posture = st.sampled_from([None, None, None, ["posture:linux"]])
_acl = st.builds(
    lambda src, dst, proto, posture: {
        "action": "accept", "src": src, "dst": dst,
        **({"proto": proto} if proto else {}),
        **({"srcPosture": posture} if posture else {})},
    st.lists(st.sampled_from(SRC), min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from(DST), st.sampled_from(PORTS)).map(
        lambda t: f"{t[0]}:{t[1]}"), min_size=1, max_size=3),
    st.sampled_from([None, None, "tcp", "udp", "17"]), _posture)
_grant = st.builds(
    lambda src, dst, ip, posture: {
        "src": src, "dst": dst, "ip": ip, **({"srcPosture": posture} if posture else {})},
    st.lists(st.sampled_from(SRC), min_size=1, max_size=3),
    st.lists(st.sampled_from(DST), min_size=1, max_size=3),
    st.lists(st.sampled_from(IPS), min_size=1, max_size=2), _posture)
_members = st.lists(st.sampled_from(USERS), max_size=3, unique=True)


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "groups": {"group:eng": draw(_members), "group:ops": draw(_members)},
        "tagOwners": {t: ["group:ops"] for t in TAGS},
        "hosts": {"h1": draw(st.sampled_from(HOST_VALUES)), "lab": "10.0.0.0/24"},
        "ipsets": {"ipset:lab": draw(st.sampled_from(IPSETS))},
        "postures": POSTURES,
    }


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    policy = draw(definitions())
    if draw(st.integers(0, 9)):  # now and then neither section: Tailscale's allow-all
        policy["acls"] = draw(st.lists(_acl, max_size=3))
        policy["grants"] = draw(st.lists(_grant, max_size=3))
    if draw(st.integers(0, 7)) == 0:
        policy["defaultSrcPosture"] = ["posture:linux"]
    return policy


@st.composite
def edited(draw: st.DrawFn, before: dict[str, Any]) -> dict[str, Any]:
    """`before` with a few edits: group members, a host, rules kept, dropped or added."""
    after = dict(before)
    fresh = draw(definitions())
    for key in ("groups", "hosts"):
        if draw(st.booleans()):
            after[key] = fresh[key]
    for key, rule in (("acls", _acl), ("grants", _grant)):
        if key not in before:
            continue
        kept = [r for r in before[key] if draw(st.integers(0, 3))]
        added = draw(st.lists(rule, max_size=2))
        after[key] = draw(st.permutations(kept + added))
    if draw(st.integers(0, 5)) == 0:
        after.pop("defaultSrcPosture", None)
    return after


Case = tuple[Inventory, dict[str, Any], dict[str, Any], tuple[tuple[str, tuple[str, ...]], ...]]


@st.composite
def cases(draw: st.DrawFn, retags: bool = False) -> Case:
    """A tailnet, two policies and (with `retags`) devices whose tags change too; then
    the policies are often one (only tags change), as in a plan that re-tags a device."""
    inventory = draw(tailnets())
    before = draw(policies())
    after = draw(edited(before)) if draw(st.integers(0, 3)) else draw(policies())
    if draw(st.booleans()):  # as `plan` runs it: named identities without devices added
        inventory = with_named_identities(inventory, before, after)
    retag: list[tuple[str, tuple[str, ...]]] = []
    if retags:
        if draw(st.booleans()):
            after = before
        for d in inventory.devices:
            if d.id.startswith("id") and draw(st.integers(0, 2)) == 0:
                tags = draw(st.lists(st.sampled_from(TAGS), min_size=0 if d.user else 1,
                                     max_size=2, unique=True))
                retag.append((d.name, tuple(tags)))
    return inventory, before, after, tuple(retag)


# --- brute force ------------------------------------------------------------------------------

Point = tuple[int, int]
Key = tuple[int, int]  # (protocol, port class index)


def _cuts(sets: Iterable[AddrSet], devices: Iterable[Point]) -> dict[int, list[int]]:
    edges: dict[int, set[int]] = {4: {0}, 6: {0}}
    for s in sets:
        for fam, intervals in ((4, s.v4), (6, s.v6)):
            for a, b in intervals:
                edges[fam].update((a, b + 1))
    for fam, v in devices:
        edges[fam].update((v, v + 1))
    top = {4: 1 << 32, 6: 1 << 128}
    return {fam: sorted(e for e in es if e < top[fam]) for fam, es in edges.items()}


class Universe:
    """Address classes (one representative each) and port classes of a pair of policies
    and a diff: every boundary any of them has."""

    def __init__(self, inventory: Inventory, sets: Iterable[AddrSet],
                 ports: Iterable[tuple[int, int]]) -> None:
        self.owner: dict[Point, Device] = {
            parse_ip(a): d for d in inventory.devices for a in d.addresses}
        cuts = _cuts(sets, self.owner)
        self.points: list[Point] = [(fam, v) for fam in (4, 6) for v in cuts[fam]]
        port_edges = {0}
        for a, b in ports:
            port_edges.update((a, b + 1))
        self.ports = sorted(e for e in port_edges if e <= 65535)

    def inside(self, addrs: AddrSet) -> list[int]:
        """Indices of the classes inside `addrs` (classes never straddle its edges)."""
        return [i for i, (fam, v) in enumerate(self.points) if addrs.contains_int(fam, v)]

    def port_classes(self, ports: Iterable[tuple[int, int]]) -> list[int]:
        return [k for k, p in enumerate(self.ports) if any(a <= p <= b for a, b in ports)]

    def pairs(self, srcs: Iterable[int], dsts: Iterable[int]) -> set[tuple[int, int]]:
        dsts = list(dsts)
        return {(s, d) for s in srcs for d in dsts
                if self.points[s][0] == self.points[d][0]}


def relation(compiled: CompiledPolicy, uni: Universe) -> dict[Key, set[tuple[int, int]]]:
    """Every (protocol, port class) -> the (source, destination) classes allowed: each
    rule's sources (less devices failing its posture) times its destinations, or for
    autogroup:self the untagged devices of the source device's own user."""
    out: dict[Key, set[tuple[int, int]]] = defaultdict(set)
    owner = owners(compiled.inventory)
    for rule in compiled.rules:
        srcs = []
        for i in uni.inside(rule.src):
            device = owner.get(uni.points[i])
            if rule.posture is not None and device is not None and \
                    not compiled.postures.satisfied(rule.posture, device.posture):
                continue
            srcs.append(i)
        if rule.self_dst:
            pairs = set()
            for s in srcs:
                device = owner.get(uni.points[s])
                if device is None or device.tags or not device.user:
                    continue
                mine = [d for d, p in enumerate(uni.points)
                        if (o := owner.get(p)) is not None and not o.tags
                        and (o.user or "").lower() == device.user.lower()]
                pairs |= uni.pairs([s], mine)
        else:
            pairs = uni.pairs(srcs, uni.inside(rule.dst))
        for proto in rule.protos:
            for k in uni.port_classes(rule.ports):
                out[(proto, k)] |= pairs
    return out


def owners(inventory: Inventory) -> dict[Point, Device]:
    return {parse_ip(a): d for d in inventory.devices for a in d.addresses}


def engine_allows(runner: Runner, uni: Universe, src: int, dst: int, proto: int,
                  port: int) -> bool:
    """The engine's own answer (its rule index, as `explain` asks it)."""
    fam, value = uni.points[src]
    device = owners(runner.compiled.inventory).get((fam, value))
    source = Source(value if fam == 4 else None, value if fam == 6 else None, device,
                    device.posture if device is not None else None)
    return bool(runner.index.allowing_rules(source, [uni.points[dst]], port,
                                            frozenset({proto})))


# --- reading the diff back --------------------------------------------------------------------


def _named(name: str, resolver: Resolver, inventory: Inventory, *, dst: bool) -> AddrSet | None:
    """The addresses a name in the diff stands for, as a reviewer reads it (None for
    the catch-all of scattered non-device addresses)."""
    if name == NON_DEVICE:
        return None
    whole = re.fullmatch(r"(\S+) \((.+)\)", name)
    if whole:  # a device no identity covers: all of its addresses
        device = inventory.device(whole.group(2))
        assert device is not None and device.ipv4 == whole.group(1), name
        return AddrSet.of_ips(device.addresses)
    try:
        return (resolver.dst(name) if dst else resolver.src(name)).addrs
    except SelectorError:
        return AddrSet.parse(name)


def _ports(text: str) -> tuple[tuple[int, int], ...]:
    if text == "*":
        return ((0, 65535),)
    if text.startswith("* except "):
        holes = _ports(text.removeprefix("* except "))
        out, start = [], 0
        for a, b in holes:
            if a > start:
                out.append((start, a - 1))
            start = b + 1
        if start <= 65535:
            out.append((start, 65535))
        return tuple(out)
    return tuple((int(a), int(b or a)) for a, _, b in (p.partition("-") for p in text.split(",")))


def _protos(text: str) -> frozenset[int]:
    if not text:
        return DEFAULT
    return frozenset({PROTO_NUMBER.get(text) or PROTOCOL_NAMES.get(text) or int(text)})


class Claim:
    """One statement of the diff, read back into addresses."""

    def __init__(self, change: AccessChange, resolver: Resolver, inventory: Inventory) -> None:
        self.change = change
        self.owner = owners(inventory)
        self.protos = _protos(change.proto)
        self.ports = _ports(change.ports)
        self.src = _named(change.src, resolver, inventory, dst=False)
        self.is_self = change.dst == ("autogroup:self",)
        self.dsts = [] if self.is_self else \
            [(n, _named(n, resolver, inventory, dst=True)) for n in change.dst]
        self.vague_dst = any(d is None for _, d in self.dsts)
        self.dst = union_all(d for _, d in self.dsts if d is not None)

    def sets(self) -> list[AddrSet]:
        return [s for s in (self.src, *(d for _, d in self.dsts)) if s is not None]

    def pairs(self, uni: Universe) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
        """(pairs it states exactly, pairs it may mean by the non-device catch-all)."""
        non_device = [i for i, p in enumerate(uni.points) if p not in uni.owner]
        srcs = non_device if self.src is None else uni.inside(self.src)
        if self.is_self:
            exact = set()
            for s in srcs:
                device = self.owner.get(uni.points[s])
                assert device is not None and device.user and not device.tags, \
                    f"{self.change}: {uni.points[s]} is no user's device"
                mine = [d for d, p in enumerate(uni.points)
                        if (o := self.owner.get(p)) is not None and not o.tags
                        and (o.user or "").lower() == device.user.lower()]
                exact |= uni.pairs([s], mine)
            return exact, set()
        for name, addrs in self.dsts:
            # Each destination named is reachable by some source of the statement: a
            # source of one address family never reaches an address of the other.
            assert uni.pairs(srcs, non_device if addrs is None else uni.inside(addrs)), \
                f"{self.change}: {self.change.src} cannot reach {name} at all"
        exact = uni.pairs(srcs, uni.inside(self.dst))
        vague = uni.pairs(srcs, non_device) if self.vague_dst else set()
        if self.src is None:
            vague |= exact
            exact = set()
        return exact, vague


# --- the property -----------------------------------------------------------------------------


def check(inventory: Inventory, before: dict[str, Any], after: dict[str, Any],
          retag: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> None:
    """`retag`: (device name, its tags after) for devices re-tagged along the way."""
    moved = dict(retag)
    later = Inventory(users=inventory.users, source=inventory.source, devices=tuple(
        replace(d, tags=moved[d.name]) if d.name in moved else d for d in inventory.devices))
    try:
        old = compile_policy(before, inventory)
        new = compile_policy(after, later)
    except CompileError:
        return
    diff = access_diff(before, after, inventory,
                       retag=[(name, f"id-{name}", tags) for name, tags in retag])
    _check(inventory, old, new, diff)
    if not retag:
        return
    retagged = {d.name: d for d in inventory.devices
                if d.name in moved and tuple(sorted(d.tags)) != tuple(sorted(moved[d.name]))}
    assert [n for n in diff.notes if "re-tagged" in n] == [
        f"{name} is re-tagged {', '.join(sorted(moved[name])) or 'untagged'} (was "
        f"{', '.join(d.tags) or 'untagged'}): its access after is with its new tags"
        for name, d in sorted(retagged.items())]
    for change in [*diff.gained, *diff.lost]:
        cited = {r.path[1] for r in change.rules if r.path[:1] == ("devices",)}
        # A statement cites exactly the re-tagged devices it is about.
        about = {n for n in (change.src, *change.dst) if n != NON_DEVICE}
        resolver = (new if change in diff.gained else old).resolver
        named = union_all(_named(n, resolver, later, dst=n in change.dst) or AddrSet()
                          for n in about if n != "autogroup:self")
        touched = {name for name, d in retagged.items()
                   if any(named.contains_int(*parse_ip(a)) for a in d.addresses)}
        assert cited == touched or NON_DEVICE in (change.src, *change.dst), change


def _check(inventory: Inventory, old: CompiledPolicy, new: CompiledPolicy,
           diff: AccessDiff) -> None:
    gained = [Claim(c, new.resolver, new.inventory) for c in diff.gained]
    lost = [Claim(c, old.resolver, old.inventory) for c in diff.lost]
    rules = [*old.rules, *new.rules]
    sets = [s for r in rules for s in (r.src, r.dst)]
    sets += [s for c in [*gained, *lost] for s in c.sets()]
    ports = [p for r in rules for p in r.ports] + [p for c in [*gained, *lost] for p in c.ports]
    uni = Universe(inventory, sets, ports)
    was, now = relation(old, uni), relation(new, uni)
    assert uni.owner.keys() == owners(new.inventory).keys()

    def where(key: Key, pair: tuple[int, int]) -> str:
        (proto, k), (s, d) = key, pair
        return (f"proto {proto} port {uni.ports[k]}: {uni.points[s]} "
                f"({getattr(uni.owner.get(uni.points[s]), 'name', '-')}) -> {uni.points[d]} "
                f"({getattr(uni.owner.get(uni.points[d]), 'name', '-')})")

    for claims, grew, shrank, verb in ((gained, now, was, "gains"), (lost, was, now, "loses")):
        said: dict[Key, set[tuple[int, int]]] = defaultdict(set)
        maybe: dict[Key, set[tuple[int, int]]] = defaultdict(set)
        for claim in claims:
            exact, vague = claim.pairs(uni)
            keys = [(p, k) for p in claim.protos for k in uni.port_classes(claim.ports)]
            assert exact or vague, f"{claim.change}: names no (source, destination) pair"
            assert claim.change.rules, f"{claim.change}: cites no rule"
            for key in keys:
                for pair in exact:
                    # Every statement is true as written.
                    assert pair in grew[key] and pair not in shrank[key], \
                        f"{claim.change} {verb}, but not {where(key, pair)}"
                said[key] |= exact
                maybe[key] |= vague
                if vague:  # the catch-all stands for some changed non-device addresses
                    assert any(p in grew[key] and p not in shrank[key] for p in vague), \
                        f"{claim.change}: no non-device address {verb} {key}"
            if not claim.is_self and not claim.vague_dst:
                assert claim.change.devices == _devices(inventory, claim.dst), claim.change
        for key in set(grew) | set(shrank):
            for pair in grew.get(key, set()) - shrank.get(key, set()):
                # Nothing that changes is missing.
                assert pair in said[key] or pair in maybe[key], \
                    f"not in the diff: {where(key, pair)} {verb}"


def _devices(inventory: Inventory, addrs: AddrSet) -> int:
    return sum(1 for d in inventory.devices if d.id != SYNTHETIC_ID
               and any(addrs.contains_int(*parse_ip(a)) for a in d.addresses))


def engine_agrees(inventory: Inventory, before: dict[str, Any], after: dict[str, Any],
                  limit: int = 150) -> None:
    """The brute force answers as the engine does, on what changes and a sample more."""
    try:
        compiled = [compile_policy(p, inventory) for p in (before, after)]
    except CompileError:
        return
    rules = [r for c in compiled for r in c.rules]
    uni = Universe(inventory, [s for r in rules for s in (r.src, r.dst)],
                   [p for r in rules for p in r.ports])
    rels = [relation(c, uni) for c in compiled]
    runners = [Runner(c) for c in compiled]
    asked = 0
    for key in sorted(set(rels[0]) | set(rels[1])):
        a, b = rels[0].get(key, set()), rels[1].get(key, set())
        for pair in sorted((a ^ b) | set(sorted(a & b)[:3])):
            if asked >= limit:
                return
            asked += 1
            for runner, rel in zip(runners, rels, strict=True):
                got = engine_allows(runner, uni, *pair, key[0], uni.ports[key[1]])
                assert got == (pair in rel.get(key, set())), (key, pair)


@settings(max_examples=examples(1000), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_every_statement_holds_and_every_change_is_stated(case: Case) -> None:
    check(*case)


@settings(max_examples=examples(500), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases(retags=True))
def test_devices_re_tagged_gain_and_lose_what_their_tags_reach(case: Case) -> None:
    """Before: the before policy over the tailnet as it is; after: the after policy
    over the tailnet with the re-tagged devices carrying their new tags."""
    check(*case)


@settings(max_examples=examples(300), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_the_brute_force_is_the_engine(case: Case) -> None:
    engine_agrees(*case[:3])
