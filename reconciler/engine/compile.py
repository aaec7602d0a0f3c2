"""Compile `acls` and `grants` into rule tuples (src set, dst set, ports, protocols).

engine/ (step: compile, to rules) (imports `addrset`, `resolve`, `posture`, `reconciler.core.errors`
and the port/proto parsers of `reconciler.validate.ports`). Semantics are
policy-semantics.md §2.3-2.5:

* an ACL row gives one `Rule` per dst entry, each with its own ports; the row's `proto`
  (or TCP+UDP+ICMP+ICMPv6) applies to all of them;
* a grant gives the cross product dst × ip; `app` capabilities become `AppRule`s and
  give no network access on their own; `via` never widens who may reach what, it only
  decides which routers carry the rule;
* no `acls` and no `grants` key at all means allow-all; an empty array denies all;
* `srcPosture` (else `defaultSrcPosture`) limits the rule to compliant source devices.

Every rule keeps its path in the policy (``("acls", 3, "dst", 1)``) so reports can give
the file:line the SourceMap knows for it, and the selectors its src and dst are unions
of. Selectors are validated at compile time; a rule's address sets (`Rule.src`,
`Rule.dst`) are built on first use, since the test index works from the selectors.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, reduce
from typing import Any

from reconciler.core.errors import CompileError, SelectorError
from reconciler.core.inventory import Inventory
from reconciler.engine.addrset import EMPTY, AddrSet, Interval, merge_intervals
from reconciler.engine.posture import Postures
from reconciler.engine.resolve import Resolver, Target
from reconciler.validate.ports import (
    DEFAULT_PROTOCOLS,
    PORTED_PROTOCOLS,
    PortError,
    ProtoError,
    parse_grant_ip,
    parse_ports,
    parse_proto,
    split_acl_dst,
)

PathKey = tuple[str | int, ...]
ALL_PORTS: tuple[Interval, ...] = ((0, 65535),)
DEFAULT_PROTOS = frozenset(DEFAULT_PROTOCOLS)
PORTED = PORTED_PROTOCOLS


@dataclass(frozen=True)
class Rule:
    """One network allow tuple. `dst` is empty and `self_dst` set for autogroup:self."""

    index: int
    path: PathKey  # ("acls", i, "dst", j) or ("grants", i, "ip", k)
    kind: str  # "acl" | "grant" | "default" (allow-all when acls and grants are absent)
    ports: tuple[Interval, ...]
    protos: frozenset[int]
    default_protos: bool  # no IPProto on the wire (TCP, UDP, ICMP, ICMPv6)
    posture: tuple[str, ...] | None = None  # any of these postures; None = unrestricted
    self_dst: bool = False
    internet: bool = False
    via: tuple[str, ...] = ()
    src_text: tuple[str, ...] = ()
    dst_text: tuple[str, ...] = ()
    # The selectors whose union is `src` / `dst` (dst: host parts), for the rule index.
    src_sel: tuple[str, ...] = ()
    dst_sel: tuple[str, ...] = ()
    port_text: str = ""
    resolver: Resolver | None = field(default=None, compare=False, repr=False)

    @cached_property
    def src(self) -> AddrSet:
        """The source addresses: the union of the src selectors (computed on first use)."""
        assert self.resolver is not None
        return reduce(operator.or_, (self.resolver.src(s).addrs for s in self.src_sel), EMPTY)

    @cached_property
    def dst(self) -> AddrSet:
        """The destination addresses (empty for autogroup:self, resolved per source)."""
        if self.self_dst:
            return EMPTY
        assert self.resolver is not None
        return reduce(operator.or_, (self.resolver.dst(s).addrs for s in self.dst_sel), EMPTY)

    def allows_port(self, proto: int, port: int) -> bool:
        if proto not in self.protos:
            return False
        if proto not in PORTED:
            return self.ports == ALL_PORTS or any(a <= port <= b for a, b in self.ports)
        return any(a <= port <= b for a, b in self.ports)

    @property
    def all_ports(self) -> bool:
        return self.ports == ALL_PORTS


def _rule(**values: Any) -> Rule:
    """`Rule(**values)` given every field, without the frozen dataclass's `__setattr__`
    per field (a fifth of compile time: one Rule per dst entry). tests/engine check that
    compiled rules hold every field and equal the same `Rule(...)`."""
    rule: Rule = object.__new__(Rule)
    rule.__dict__.update(values)
    return rule


@dataclass(frozen=True)
class AppRule:
    """An application capability grant (`app`): CapGrant rules on the destinations."""

    index: int
    path: PathKey
    src: AddrSet
    dst: AddrSet
    self_dst: bool
    caps: Mapping[str, Any]
    posture: tuple[str, ...] | None = None


# Capabilities for which SaaS also pushes a companion capability in the other direction
# (dst -> src, no parameters), so that the destination learns who may use it.
COMPANION_CAPS = {
    "tailscale.com/cap/drive": "tailscale.com/cap/drive-sharer",
    "tailscale.com/cap/relay": "tailscale.com/cap/relay-target",
}


@dataclass
class CompiledPolicy:
    rules: list[Rule]
    app_rules: list[AppRule]
    allow_all: bool
    postures: Postures
    resolver: Resolver
    policy: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def inventory(self) -> Inventory:
        return self.resolver.inventory


def _merge_ports(ranges: Sequence[tuple[int, int]]) -> tuple[Interval, ...]:
    return merge_intervals(ranges)


@lru_cache(maxsize=4096)
def _ports_of(text: str) -> tuple[Interval, ...]:
    """A port list as merged ranges; cached (policies repeat the same few lists)."""
    return _merge_ports([(p.first, p.last) for p in parse_ports(text)])


@lru_cache(maxsize=4096)
def _grant_ip(text: str) -> tuple[tuple[Interval, ...], frozenset[int], bool]:
    """A grant `ip` entry as (merged port ranges, protocols, no IPProto); cached."""
    parsed = parse_grant_ip(text)
    ports = _merge_ports([(p.first, p.last) for p in parsed.ports])
    protos = DEFAULT_PROTOS if parsed.proto is None else frozenset({parsed.proto})
    return ports, protos, parsed.proto is None


def _strs(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise CompileError(f"{where}: expected a list of strings")
    return [str(v) for v in value]


def compile_policy(policy: Mapping[str, Any], inventory: Inventory, *,
                   resolver: Resolver | None = None) -> CompiledPolicy:
    """Compile every network rule and app grant of `policy` against `inventory`.

    `resolver` (optional) is one already built over `inventory` for a policy with the
    same `groups`, `hosts`, `ipsets` and `tagOwners` (all a Resolver reads of a policy):
    reusing it shares its selector caches, e.g. between the two sides of an access diff.
    """
    if not isinstance(policy, Mapping):
        raise CompileError("a policy must be a JSON object")
    for section in ("acls", "grants", "ssh", "tests", "sshTests", "defaultSrcPosture"):
        if policy.get(section) is not None and not isinstance(policy[section], list):
            raise CompileError(f"{section} must be a list, not {type(policy[section]).__name__}")
    for section in ("groups", "tagOwners", "hosts", "ipsets", "postures"):
        if policy.get(section) is not None and not isinstance(policy[section], Mapping):
            raise CompileError(f"{section} must be an object, not "
                               f"{type(policy[section]).__name__}")
    if resolver is None or resolver.inventory is not inventory:
        resolver = Resolver(policy, inventory)
    postures = Postures(policy.get("postures") if isinstance(policy.get("postures"), Mapping)
                        else None)
    default_posture = tuple(_strs(policy.get("defaultSrcPosture"), "defaultSrcPosture")) or None
    rules: list[Rule] = []
    apps: list[AppRule] = []
    allow_all = "acls" not in policy and "grants" not in policy
    try:
        if allow_all:
            rules.append(Rule(0, (), "default", ALL_PORTS, DEFAULT_PROTOS, True,
                              src_text=("*",), dst_text=("*",),
                              src_sel=("*",), dst_sel=("*",), resolver=resolver,
                              port_text="*"))
        for i, acl in enumerate(policy.get("acls") or []):
            _compile_acl(i, acl, resolver, default_posture, rules)
        for i, grant in enumerate(policy.get("grants") or []):
            _compile_grant(i, grant, resolver, default_posture, rules, apps)
    except (SelectorError, PortError, ProtoError) as e:
        raise CompileError(str(e)) from e
    return CompiledPolicy(rules, apps, allow_all, postures, resolver, policy)


def rebound(compiled: CompiledPolicy, inventory: Inventory) -> CompiledPolicy | None:
    """`compiled`'s policy compiled over `inventory` instead, from its rules rather than
    its text: a network rule's ports, protocols, selectors and flags are the policy's
    alone (a selector that does not compile fails over any inventory), only its
    resolver (and the address sets it builds) belongs to an inventory. None when the
    policy has app grants, whose sets are built as they compile: compile it then.
    (plan's access diff runs over the tailnet plus a device per identity that owns
    none, its tests over the tailnet itself.)"""
    if compiled.app_rules:
        return None
    resolver = Resolver(compiled.policy, inventory)
    rules = []
    for rule in compiled.rules:
        values = dict(rule.__dict__)
        values.pop("src", None)  # sets cached over the other inventory (cached_property)
        values.pop("dst", None)
        values["resolver"] = resolver
        rules.append(_rule(**values))
    return CompiledPolicy(rules, [], compiled.allow_all, compiled.postures, resolver,
                          compiled.policy)


def _posture(entry: Mapping[str, Any], default: tuple[str, ...] | None,
             where: str) -> tuple[str, ...] | None:
    if entry.get("srcPosture"):
        return tuple(_strs(entry["srcPosture"], f"{where}.srcPosture"))
    return default


def _check_src(resolver: Resolver, selectors: list[str], where: str) -> None:
    """Resolve every src selector now (cached), so a bad one fails at compile time."""
    for s in selectors:
        try:
            resolver.check(s, dst=False)
        except SelectorError as e:
            raise CompileError(f"{where}: {e.summary}") from e


def _src(resolver: Resolver, selectors: list[str], where: str) -> AddrSet:
    _check_src(resolver, selectors, where)
    return reduce(operator.or_, (resolver.src(s).addrs for s in selectors), EMPTY)


def _dst(resolver: Resolver, selector: str, where: str) -> Target:
    """The selector's flags (self, internet), validated; not its addresses."""
    try:
        return resolver.check(selector, dst=True)
    except SelectorError as e:
        raise CompileError(f"{where}: {e.summary}") from e


def _compile_acl(i: int, acl: Any, resolver: Resolver, default_posture: tuple[str, ...] | None,
                 rules: list[Rule]) -> None:
    where = f"acls[{i}]"
    if not isinstance(acl, Mapping):
        raise CompileError(f"{where}: an ACL rule must be an object")
    action = str(acl.get("action", "accept")).strip()
    if action != "accept":
        raise CompileError(f'{where}: action="{action}" is not supported')
    src_key = "src" if "src" in acl else "users"
    dst_key = "dst" if "dst" in acl else "ports"
    src_text = _strs(acl.get(src_key), f"{where}.{src_key}")
    _check_src(resolver, src_text, f"{where}.{src_key}")
    proto_text = str(acl.get("proto") or "").strip()
    try:
        proto = parse_proto(proto_text)
    except ProtoError as e:
        raise CompileError(f"{where}.proto: {e}") from e
    protos = DEFAULT_PROTOS if proto is None else frozenset({proto})
    posture = _posture(acl, default_posture, where)
    src_texts = tuple(src_text)  # shared by the row's rules
    src_sel = tuple(x.strip() for x in src_text)
    for j, entry in enumerate(_strs(acl.get(dst_key), f"{where}.{dst_key}")):
        host, ports_text = split_acl_dst(entry)
        if not ports_text:
            raise CompileError(f'{where}.{dst_key}[{j}]: dst="{entry}" has no port')
        try:
            ports = _ports_of(ports_text)
        except PortError as e:
            raise CompileError(f'{where}.{dst_key}[{j}]: dst="{entry}": {e}') from e
        target = _dst(resolver, host, f"{where}.{dst_key}[{j}]")
        rules.append(_rule(
            index=len(rules), path=("acls", i, dst_key, j), kind="acl", resolver=resolver,
            ports=ports, protos=protos, default_protos=proto is None,
            posture=posture, self_dst=target.self_, internet=target.internet, via=(),
            src_text=src_texts, dst_text=(entry.strip(),), port_text=ports_text,
            src_sel=src_sel, dst_sel=(host.strip(),),
        ))


def _compile_grant(i: int, grant: Any, resolver: Resolver,
                   default_posture: tuple[str, ...] | None, rules: list[Rule],
                   apps: list[AppRule]) -> None:
    where = f"grants[{i}]"
    if not isinstance(grant, Mapping):
        raise CompileError(f"{where}: a grant must be an object")
    src_text = _strs(grant.get("src"), f"{where}.src")
    _check_src(resolver, src_text, f"{where}.src")
    posture = _posture(grant, default_posture, where)
    via = tuple(s.strip() for s in _strs(grant.get("via"), f"{where}.via"))
    dst_text = [s.strip() for s in _strs(grant.get("dst"), f"{where}.dst")]
    # Split the dst union into its static part, autogroup:self and autogroup:internet:
    # each behaves differently in filters and tests.
    plain_text: list[str] = []
    has_self = has_internet = False
    for j, s in enumerate(dst_text):
        target = _dst(resolver, s, f"{where}.dst[{j}]")
        if target.self_:
            has_self = True
        elif target.internet:
            has_internet = True
        else:
            plain_text.append(s)
    groups: list[tuple[bool, bool, tuple[str, ...]]] = []
    if plain_text:
        groups.append((False, False, tuple(plain_text)))
    if has_self:
        groups.append((True, False, ("autogroup:self",)))
    if has_internet:
        groups.append((False, True, ("autogroup:internet",)))
    src_texts = tuple(src_text)  # shared by the grant's rules
    src_sel = tuple(x.strip() for x in src_text)
    for k, ip in enumerate(_strs(grant.get("ip"), f"{where}.ip")):
        try:
            ports, protos, default_protos = _grant_ip(ip)
        except (PortError, ProtoError) as e:
            raise CompileError(f"{where}.ip[{k}]: {e}") from e
        for self_dst, internet, text in groups:
            rules.append(_rule(
                index=len(rules), path=("grants", i, "ip", k), kind="grant",
                resolver=resolver, ports=ports, protos=protos, default_protos=default_protos,
                posture=posture, self_dst=self_dst, internet=internet, via=via,
                src_text=src_texts, dst_text=text, port_text=ip.strip(),
                src_sel=src_sel, dst_sel=text,
            ))
    app = grant.get("app")
    if isinstance(app, Mapping) and app:
        src = _src(resolver, src_text, f"{where}.src")
        for self_dst, internet, text in groups:
            if internet:
                continue  # rejected by validation: app grants cannot target the internet
            dst = EMPTY if self_dst else reduce(
                operator.or_, (resolver.dst(t).addrs for t in text), EMPTY)
            apps.append(AppRule(len(apps), ("grants", i, "app"), src, dst, self_dst,
                                dict(app), posture))
        companions = {COMPANION_CAPS[c]: [None] for c in app if c in COMPANION_CAPS}
        if companions:
            # The reverse direction reads the dst selectors as sources (`*` is the tailnet).
            rev_src = _src(resolver, plain_text, f"{where}.dst")
            rev_dst = src
            if plain_text:
                apps.append(AppRule(len(apps), ("grants", i, "app"), rev_src, rev_dst, False,
                                    companions, None))
            if has_self:
                apps.append(AppRule(len(apps), ("grants", i, "app"), src, EMPTY, True,
                                    companions, None))
