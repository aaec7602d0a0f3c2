"""Selector resolution: every policy selector to the set of addresses it stands for.

engine/ (imports `addrset`, `reconciler.core.inventory`,
`reconciler.core.errors` and the selector parser `reconciler.validate.selectors`).
Semantics are policy-semantics.md §2.2: the src side and the dst side differ for `*`,
`autogroup:self` and `autogroup:internet`. Results are cached per selector string; an
`Inventory` is immutable, so a `Resolver` never goes stale. Two resolvers over one
inventory (the sides of an access diff) share the selectors that read the same
definitions in both (`Alike`, a resolver's `peer`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.errors import AddressError, SelectorError
from reconciler.core.inventory import ROLES, Device, Inventory
from reconciler.engine.addrset import (
    ALL,
    EMPTY,
    INTERNET,
    TAILNET,
    V4_ALL,
    V6_ALL,
    AddrSet,
    Interval,
    parse_ip,
)
from reconciler.validate.selectors import Kind, Selector, SelectorSyntaxError, parse_selector

ROLE_AUTOGROUPS = {f"autogroup:{r}" for r in ROLES if r != "member"}


def parse(text: str) -> Selector:
    """`parse_selector` with its ValueError turned into our error tree."""
    try:
        return parse_selector(text)
    except SelectorSyntaxError as e:
        raise SelectorError(str(e)) from e


@dataclass(frozen=True)
class Target:
    """What one side of a rule stands for.

    `addrs` is the static address set; `self_` marks autogroup:self (resolved per source
    device at evaluation time); `internet` marks autogroup:internet (enforced through
    route distribution, so it never reaches a packet filter).
    """

    addrs: AddrSet
    self_: bool = False
    internet: bool = False


_IDENTITY = Target(EMPTY)  # what `check` says of an identity: no flags, addresses unbuilt


def device_addrs(devices: Iterable[Device]) -> AddrSet:
    v4: list[Interval] = []
    v6: list[Interval] = []
    for d in devices:
        if d.ipv4:
            value = parse_ip(d.ipv4)[1]
            v4.append((value, value))
        if d.ipv6:
            value = parse_ip(d.ipv6)[1]
            v6.append((value, value))
    return AddrSet(v4, v6)


class Alike:
    """Which selectors read the same definitions in the policies of two resolvers, and
    so stand for the same addresses over one inventory: a tag whether tagOwners defines
    it, a group its members (a nested group is not followed: then never), a host its
    address, an ipset the ipsets and hosts (all a Resolver reads of a policy); users,
    domains, autogroups, `*` and addresses read the inventory alone. A selector that
    does not parse is never alike. Answers are cached per selector (stripped)."""

    def __init__(self, a: Resolver, b: Resolver) -> None:
        self.a, self.b = a, b
        self.tags_equal = a.tags == b.tags
        self.hosts_equal = a.hosts == b.hosts
        self.ipsets_equal = self.hosts_equal and a.ipsets == b.ipsets
        self._found: dict[str, bool] = {}

    def __call__(self, selector: str) -> bool:
        found = self._found.get(selector)
        if found is None:
            found = self._found[selector] = self._alike(selector)
        return found

    def _alike(self, selector: str) -> bool:
        try:
            sel = parse(selector.strip())
        except SelectorError:
            return False
        a, b = self.a, self.b
        if sel.kind is Kind.TAG:
            return (sel.value in a.tags) == (sel.value in b.tags)
        if sel.kind is Kind.GROUP:
            members = a.groups.get(sel.value)
            # Members are users, tags and autogroups; a nested group is compared by set.
            return (members == b.groups.get(sel.value) and self.tags_equal
                    and not any(m.startswith("group:") for m in members or ()))
        if sel.kind is Kind.HOST:
            return a.hosts.get(sel.value) == b.hosts.get(sel.value)
        if sel.kind is Kind.IPSET:
            return self.ipsets_equal
        return True


class Resolver:
    """Resolve selectors of one policy against one inventory.

    `peer`: a resolver of another policy over the same inventory (the other side of an
    access diff). A selector whose definitions read the same in both (`Alike`) stands
    for the same addresses, so the peer resolves it for both (in its caches, once),
    and what the peer read of the inventory serves too: two revisions of a policy differ in a
    few definitions, and resolving every selector over a large inventory twice is most
    of compiling the second one."""

    def __init__(self, policy: Mapping[str, Any], inventory: Inventory, *,
                 peer: Resolver | None = None) -> None:
        self.policy = policy
        self.inventory = inventory
        groups = policy.get("groups")
        self.groups: dict[str, list[str]] = {
            str(k).strip(): [str(m).strip() for m in v if isinstance(m, str)]
            for k, v in (groups.items() if isinstance(groups, Mapping) else ())
            if isinstance(v, list)
        }
        hosts = policy.get("hosts")
        self.hosts: dict[str, str] = {
            str(k).strip(): str(v).strip()
            for k, v in (hosts.items() if isinstance(hosts, Mapping) else ())
        }
        ipsets = policy.get("ipsets")
        self.ipsets: dict[str, Any] = dict(ipsets) if isinstance(ipsets, Mapping) else {}
        owners = policy.get("tagOwners")
        self.tags: set[str] = (
            {str(k).strip() for k in owners} if isinstance(owners, Mapping) else set()
        )

        # What is read of the inventory alone (never changed once read).
        self.roles: dict[str, str]
        self.shared_users: set[str]
        self.by_user: dict[str, list[Device]]
        self.by_tag: dict[str, list[Device]]
        self.approved_routes: AddrSet
        self._peer = peer if peer is not None and peer.inventory is inventory else None
        if self._peer is not None:  # the same inventory: read alike
            self.roles = self._peer.roles
            self.shared_users = self._peer.shared_users
            self.by_user = self._peer.by_user
            self.by_tag = self._peer.by_tag
            self.approved_routes = self._peer.approved_routes
        else:
            self._read(inventory)
        self._src: dict[str, Target] = {}
        self._dst: dict[str, Target] = {}
        self._ipset: dict[str, AddrSet] = {}
        self._identity: dict[str, list[Device] | None] = {}
        self._checked_src: dict[str, Target] = {}
        self._checked_dst: dict[str, Target] = {}
        self._reads_alike = Alike(self, self._peer) if self._peer is not None else None

    def _read(self, inventory: Inventory) -> None:
        self.roles = {u.login.lower(): u.role for u in inventory.users}
        self.shared_users = {u.login.lower() for u in inventory.users if u.shared}
        by_user: dict[str, list[Device]] = defaultdict(list)
        by_tag: dict[str, list[Device]] = defaultdict(list)
        for d in inventory.devices:
            if d.tags:
                for t in d.tags:
                    by_tag[t].append(d)
            elif d.user:
                by_user[d.user.lower()].append(d)
        self.by_user, self.by_tag = by_user, by_tag
        # `*` covers approved subnet routes, never exit routes (0.0.0.0/0, ::/0).
        routes = [r for d in inventory.devices for r in d.approved_routes
                  if AddrSet.parse(r) not in (V4_ALL, V6_ALL)]
        self.approved_routes = AddrSet.parse_many(routes)

    def _shared(self, selector: str) -> Resolver | None:
        """The peer, when `selector` (stripped) reads alike in both: it resolves it for
        both (once, in its own caches), whichever side asks first."""
        alike = self._reads_alike
        return self._peer if alike is not None and alike(selector) else None

    # --- identities ---------------------------------------------------------------

    def user_devices(self, login: str) -> list[Device]:
        return self.by_user.get(login.strip().lower(), [])

    def identity_devices(self, selector: str) -> list[Device] | None:
        """Devices an identity selector names (user, group, tag, autogroup), else None."""
        s = selector.strip()
        if s in self._identity:
            return self._identity[s]
        peer = self._shared(s) if self._peer is not None else None
        found = self._identity[s] = peer.identity_devices(s) if peer is not None \
            else self._identity_devices(parse(s))
        return found

    def _identity_devices(self, sel: Selector) -> list[Device] | None:
        s = sel.value
        if sel.kind is Kind.GROUP:
            if s not in self.groups:
                raise SelectorError(f"group {s!r} is not defined in groups")
            seen: dict[str, Device] = {}
            for m in self.groups[s]:
                for d in self.identity_devices(m) or []:
                    seen.setdefault(d.name, d)
            return list(seen.values())
        if sel.kind is Kind.TAG:
            if s not in self.tags:
                raise SelectorError(f"tag {s!r} is not defined in tagOwners")
            return list(self.by_tag.get(s, []))
        if sel.kind is Kind.USER:
            return list(self.user_devices(s))
        if sel.kind is Kind.DOMAIN:
            domain = s.lower()
            return [d for login, devs in self.by_user.items()
                    if login.rsplit("@", 1)[-1] == domain for d in devs]
        if sel.kind is not Kind.AUTOGROUP:
            return None
        if s in ("autogroup:member", "autogroup:members"):
            return [d for d in self.inventory.devices
                    if not d.tags and d.user and not d.shared
                    and d.user.lower() not in self.shared_users]
        if s == "autogroup:tagged":
            return [d for d in self.inventory.devices if d.tags]
        if s == "autogroup:shared":
            return [d for d in self.inventory.devices
                    if not d.tags and (d.shared or (d.user or "").lower() in self.shared_users)]
        if s in ROLE_AUTOGROUPS:
            role = s.split(":", 1)[1]
            return [d for login, devs in self.by_user.items() if self.roles.get(login) == role
                    for d in devs]
        return None

    # --- selectors ----------------------------------------------------------------

    def check(self, selector: str, *, dst: bool) -> Target:
        """Validate a selector (raises SelectorError) without building its address set
        for identities; the result's `addrs` is EMPTY for them, so use it for flags only.
        Cached per text and side (rules repeat selectors)."""
        checked = self._checked_dst if dst else self._checked_src
        found = checked.get(selector)
        if found is None:
            s = selector.strip()
            if self.identity_devices(s) is not None:
                found = _IDENTITY
            else:
                found = self.dst(s) if dst else self.src(s)
            checked[selector] = found
        return found

    def src(self, selector: str) -> Target:
        s = selector.strip()
        found = self._src.get(s)
        if found is None:
            peer = self._shared(s) if self._peer is not None else None
            found = self._src[s] = peer.src(s) if peer is not None \
                else self._resolve(s, dst=False)
        return found

    def dst(self, selector: str) -> Target:
        s = selector.strip()
        found = self._dst.get(s)
        if found is None:
            peer = self._shared(s) if self._peer is not None else None
            found = self._dst[s] = peer.dst(s) if peer is not None \
                else self._resolve(s, dst=True)
        return found

    def _resolve(self, s: str, *, dst: bool) -> Target:
        sel = parse(s)
        if sel.kind is Kind.WILDCARD:
            if dst:
                return Target(ALL)
            shared = self.identity_devices("autogroup:shared") or []
            return Target(TAILNET | self.approved_routes | device_addrs(shared))
        if sel.value == "autogroup:danger-all":
            if dst:
                raise SelectorError("cannot use autogroup:danger-all as a dst")
            return Target(ALL)
        if sel.value == "autogroup:self":
            if not dst:
                raise SelectorError('"autogroup:self" not valid on the src side of a rule')
            return Target(EMPTY, self_=True)
        if sel.value == "autogroup:internet":
            if not dst:
                raise SelectorError('"autogroup:internet" not valid on the src side of a rule')
            return Target(INTERNET, internet=True)
        if sel.kind is Kind.SERVICE:
            return Target(EMPTY)  # Service VIPs are not part of the inventory
        if sel.kind is Kind.IPSET:
            return Target(self.ipset(sel.value))
        devices = self.identity_devices(s)
        if devices is not None:
            return Target(device_addrs(devices))
        if sel.kind is Kind.AUTOGROUP:
            raise SelectorError(f"unknown autogroup {s!r}")
        if sel.kind is Kind.HOST:
            if sel.value not in self.hosts:
                raise SelectorError(f"host {sel.value!r} is not defined in hosts")
            return Target(self.host(sel.value))
        # IP, CIDR or range; a bare name that is also a hosts key was handled above
        return Target(self._literal(sel.text, sel.text))

    def host(self, name: str) -> AddrSet:
        return self._literal(self.hosts[name], f"hosts[{name!r}]")

    def _literal(self, text: str, where: str) -> AddrSet:
        try:
            return AddrSet.parse(text)
        except AddressError as e:
            raise SelectorError(f"{where}: {e.summary}") from e

    def ipset(self, name: str, _stack: tuple[str, ...] = ()) -> AddrSet:
        if name in self._ipset:
            return self._ipset[name]
        if name in _stack:
            raise SelectorError(f"{name}: ipsets cannot refer to themselves")
        ops = self.ipsets.get(name)
        if not isinstance(ops, list):
            raise SelectorError(f"ipset {name!r} is not defined in ipsets")
        result = EMPTY
        for op in ops:
            text = str(op).strip()
            verb, _, target = text.partition(" ")
            if verb not in ("add", "remove"):
                verb, target = "add", text
            target = target.strip()
            if target.startswith("ipset:"):
                part = self.ipset(target, (*_stack, name))
            elif target.startswith("host:"):
                host = target[len("host:"):]
                if host not in self.hosts:
                    raise SelectorError(f"{name}: host {host!r} is not defined in hosts")
                part = self.host(host)
            elif target == "autogroup:internet":
                part = INTERNET
            else:
                part = self._literal(target, name)
            result = result | part if verb == "add" else result - part
        self._ipset[name] = result
        return result
