"""Explain one access question: may SRC reach DST:PORT, and which rules (file:line) say so.

engine/ (imports `compile`, `index` for its reference evaluator, `tests_runner` for
src/dst parsing, `reconciler.core.source`). One question needs no rule index: the rules
are scanned once. For an allowed question every allowing rule is listed with its
location; for a denied one, the nearest rules (fewest unmet conditions) with each
unmet condition spelled out: source not covered, destination not covered, port or
protocol not allowed, posture not met.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.errors import ExplainError
from reconciler.core.inventory import Inventory
from reconciler.core.source import Location, PathKey, SourceMap
from reconciler.engine.compile import Rule
from reconciler.engine.index import Point, Source, rule_allows, self_allowed_by
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.tests_runner import TCP_OR_UDP, Invalid, Runner
from reconciler.validate.ports import ProtoError, parse_proto

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}


@dataclass(frozen=True)
class RuleRef:
    """A rule as reported: where it is and what it says."""

    path: str  # "acls[3]" / "grants[1]"
    location: Location | None
    kind: str
    src: tuple[str, ...]
    dst: tuple[str, ...]
    ports: str
    protos: str
    reasons: tuple[str, ...] = ()  # for near misses: why it does not match
    name: str | None = None  # the entry's `name:` in the fragment, when it has one

    @property
    def address(self) -> str:
        """How people know the rule: `grants["eng-prod-https"]`, or `grants[7]` when
        it has no name (positions shift as fragments change; names do not)."""
        if self.name is None or "[" not in self.path:
            return self.path
        return f"{self.path.split('[', 1)[0]}[{json.dumps(self.name, ensure_ascii=False)}]"

    @property
    def traffic(self) -> str:
        """`tcp:443` for a grant's `ip` entry, which names its protocol already;
        `tcp/udp/icmp 443` for an ACL's ports with the protocols they mean."""
        if self.kind == "grant" and ":" in self.ports:
            return self.ports
        return f"{self.protos} {self.ports}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path, "address": self.address, "name": self.name,
            "location": str(self.location) if self.location else None,
            "kind": self.kind, "src": list(self.src), "dst": list(self.dst),
            "ports": self.ports, "proto": self.protos,
        }
        if self.reasons:
            out["reasons"] = list(self.reasons)
        return out

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return (f"{where}{self.address}: {', '.join(self.src)} -> {', '.join(self.dst)}"
                f" ({self.traffic})")


@dataclass
class Explanation:
    src: str
    dst: str
    proto: str
    allowed: bool
    rules: list[RuleRef] = field(default_factory=list)
    near_misses: list[RuleRef] = field(default_factory=list)
    sources_denied: list[str] = field(default_factory=list)  # src devices that cannot
    sources_total: int = 0  # how many devices SRC stands for
    owners: dict[str, str] = field(default_factory=dict)  # denied device -> user or tags

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed, "src": self.src, "dst": self.dst, "proto": self.proto,
            "rules": [r.to_dict() for r in self.rules],
            "near_misses": [r.to_dict() for r in self.near_misses],
            "sources_denied": self.sources_denied, "sources_total": self.sources_total,
        }

    def text_lines(self) -> list[str]:
        """The text report, one line each."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        lines = [f"{verdict}: {self.src} -> {self.dst} ({self.proto})"]
        if self.rules:
            lines.append("Allowed by:")
            lines.extend(f"  {text}" for text, _ in _merged(self.rules))
        if self.sources_denied:
            # A bare device name ("sam-4") says nothing of why it is one of SRC's.
            shown = ", ".join(f"{name} ({self.owners[name]})" if self.owners.get(name)
                              else name for name in self.sources_denied)
            lines.append(f"Denied from {len(self.sources_denied)} of {self.sources_total} "
                         f"source device(s): {shown}")
        if self.near_misses:
            lines.append("Nearest rules:")
            for text, reasons in _merged(self.near_misses):
                lines.append(f"  {text}")
                lines.extend(f"    - {reason}" for reason in reasons)
        return lines


_PORT_REASON = re.compile(r"(port \d+ not in) (.+)")


def _merged(rules: list[RuleRef]) -> list[tuple[str, list[str]]]:
    """One line per policy entry: a grant whose `ip` lists tcp:443 and udp:443 compiles
    to a rule each, and reads as ``grants["web"]: ... (tcp:443, udp:443)``; their
    reasons are merged the same way (``port 22 not in tcp:443, udp:443``)."""
    groups: dict[tuple[Any, ...], list[RuleRef]] = {}
    for rule in rules:
        key = (rule.path, rule.location, rule.src, rule.dst)
        groups.setdefault(key, []).append(rule)
    out: list[tuple[str, list[str]]] = []
    for group in groups.values():
        first = group[0]
        where = f"{first.location}: " if first.location else ""
        traffic = ", ".join(dict.fromkeys(r.traffic for r in group))
        reasons: dict[str, list[str]] = {}  # reason (or its head) -> the tails to list
        for rule in group:
            for reason in rule.reasons:
                port = _PORT_REASON.fullmatch(reason)
                head, tail = (port[1], port[2]) if port else (reason, None)
                tails = reasons.setdefault(head, [])
                if tail is not None and tail not in tails:
                    tails.append(tail)
        out.append((f"{where}{first.address}: {', '.join(first.src)} -> "
                    f"{', '.join(first.dst)} ({traffic})",
                    [f"{head} {', '.join(tails)}" if tails else head
                     for head, tails in reasons.items()]))
    return out


def _path_text(rule: Rule) -> str:
    if rule.kind == "default":
        return "(no acls or grants: allow all)"
    return f"{rule.path[0]}[{rule.path[1]}]"


def _protos_text(rule: Rule) -> str:
    if rule.default_protos:
        return "tcp/udp/icmp"
    return "/".join(PROTO_NAMES.get(p, str(p)) for p in sorted(rule.protos))


def _ref(rule: Rule, sources: SourceMap | None, reasons: tuple[str, ...] = (),
         names: Mapping[PathKey, str] | None = None) -> RuleRef:
    location = sources.at(rule.path[:2]) if sources is not None and rule.path else None
    name = names.get(rule.path[:2]) if names and rule.path else None
    return RuleRef(_path_text(rule), location, rule.kind, rule.src_text, rule.dst_text,
                   rule.port_text, _protos_text(rule), reasons, name)


def explain(policy: Mapping[str, Any], src: str, dst: str, *, proto: str | None = None,
            inventory: Inventory | None = None, sources: SourceMap | None = None,
            near: int = 3, names: Mapping[PathKey, str] | None = None) -> Explanation:
    """Whether `src` (user, group, tag, host or IP) reaches `dst` (host:port), and why.
    `names`: entry path (`("grants", 7)`) -> its `name:`, to cite rules by name."""
    from reconciler.engine.compile import compile_policy

    inv = inventory if inventory is not None else synthetic_inventory(policy)
    runner = Runner(compile_policy(policy, inv), sources)
    try:
        srcs = runner.sources_of(src, None)
        points, port = runner.parse_dst(dst)
        number = parse_proto(proto) if proto else None
    except Invalid as e:
        raise ExplainError(str(e), "SRC is a user, group, tag, host or IP; DST is host:port.") \
            from None
    except ProtoError as e:
        raise ExplainError(str(e)) from None
    protos = TCP_OR_UDP if number is None else frozenset({number})
    proto_text = "tcp or udp" if number is None else PROTO_NAMES.get(number, str(number))
    if not srcs:
        raise ExplainError(f'src "{src}" has no devices in the inventory ({inv.source})')
    # One question: the rules are scanned once for those that could allow it from any
    # source (port, then destination), and those few checked per source by the
    # reference evaluator; no rule index is built.
    compiled = runner.compiled
    postures, owner = compiled.postures, runner.addresses.owner
    reaches = _reaches(runner, points)
    reaching = [r for r in compiled.rules if any(r.allows_port(p, port) for p in protos)
                and (r.self_dst or any(reaches(sel) for sel in r.dst_sel))]
    allowing: dict[int, Rule] = {}
    denied: list[str] = []
    owners: dict[str, str] = {}
    for s in srcs:
        rules = [r for r in reaching if rule_allows(r, postures, owner, s, points, port, protos)]
        for rule in rules:
            allowing[rule.index] = rule
        if not rules and not compiled.allow_all:
            name = s.device.name if s.device else _source_text(s)
            denied.append(name)
            if s.device is not None:
                owners[name] = s.device.user or ", ".join(s.device.tags)
    result = Explanation(src.strip(), dst.strip(), proto_text, not denied,
                         [_ref(r, sources, names=names) for _, r in sorted(allowing.items())],
                         sources_denied=denied, sources_total=len(srcs), owners=owners)
    if denied:
        result.near_misses = _near_misses(runner, srcs, points, port, protos, near, sources,
                                          set(allowing), names, reaches)
    return result


def _reaches(runner: Runner, points: list[Point]) -> Callable[[str], bool]:
    """dst selector text -> whether it holds an address of `points`, as the rule index
    would find through its selectors (a rule's dst is the union of its selectors'); each
    selector resolved once, a tag's hundreds of addresses tested against a set."""
    wanted = set(points)
    resolver, device_points = runner.resolver, runner.addresses.device_points
    answers: dict[str, bool] = {}

    def reaches(selector: str) -> bool:
        found = answers.get(selector)
        if found is None:
            devices = resolver.identity_devices(selector)
            if devices is not None:  # exactly its devices' addresses
                found = any(p in wanted for d in devices for p in device_points[id(d)])
            else:
                addrs = resolver.dst(selector).addrs
                found = any(addrs.contains_int(*p) for p in points)
            answers[selector] = found
        return found

    return reaches


def _source_text(s: Source) -> str:
    from reconciler.engine.addrset import format_ip

    return format_ip(4, s.v4) if s.v4 is not None else format_ip(6, s.v6 or 0)


def _near_misses(runner: Runner, srcs: list[Source], points: list[Point], port: int,
                 protos: frozenset[int], limit: int, sources: SourceMap | None,
                 skip: set[int], names: Mapping[PathKey, str] | None,
                 reaches: Callable[[str], bool]) -> list[RuleRef]:
    """The `limit` rules with the fewest unmet conditions, each with its reasons.

    Every rule is scored by counting its unmet conditions (its src through the sources
    each of its selectors holds, its dst through `reaches`, each worked out once per
    selector); only the nearest few
    get their reasons spelled out by `_reasons`, which gives exactly as many.
    """
    compiled = runner.compiled
    held = _held_by(runner, srcs)
    everyone = (1 << len(srcs)) - 1
    postures: dict[tuple[str, ...], bool] = {}
    scored: list[tuple[int, int, Rule]] = []
    for rule in compiled.rules:
        if rule.index in skip:
            continue
        if rule.self_dst:  # autogroup:self: the few such rules take the full check
            count = len(_reasons(runner, rule, srcs, points, port, protos))
        else:
            covered = 0
            for sel in rule.src_sel:
                covered |= held(sel)
            count = int(not any(reaches(sel) for sel in rule.dst_sel)) + int(
                not any(rule.allows_port(p, port) for p in protos)) + int(covered != everyone)
            if rule.posture is not None:
                met = postures.get(rule.posture)
                if met is None:
                    met = postures[rule.posture] = any(
                        s.attrs is None or compiled.postures.satisfied(rule.posture, s.attrs)
                        for s in srcs)
                count += not met
        if count:
            scored.append((count, rule.index, rule))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [_ref(rule, sources, tuple(_reasons(runner, rule, srcs, points, port, protos)),
                 names) for _, _, rule in scored[:limit]]


def _held_by(runner: Runner, srcs: list[Source]) -> Callable[[str], int]:
    """src selector text -> bit mask of the sources it holds (at either address), as
    the rule index would find through its selectors; each selector resolved once."""
    by_point: dict[Point, int] = {}
    for k, s in enumerate(srcs):
        for family, address in ((4, s.v4), (6, s.v6)):
            if address is not None:
                point = (family, address)
                by_point[point] = by_point.get(point, 0) | 1 << k
    resolver, device_points = runner.resolver, runner.addresses.device_points
    masks: dict[str, int] = {}

    def held(selector: str) -> int:
        found = masks.get(selector)
        if found is None:
            found = 0
            devices = resolver.identity_devices(selector)
            if devices is not None:  # exactly its devices' addresses
                for d in devices:
                    for point in device_points[id(d)]:
                        found |= by_point.get(point, 0)
            else:
                addrs = resolver.src(selector).addrs
                for point, mask in by_point.items():
                    if addrs.contains_int(*point):
                        found |= mask
            masks[selector] = found
        return found

    return held


def _reasons(runner: Runner, rule: Rule, srcs: list[Source], points: list[Point], port: int,
             protos: frozenset[int]) -> list[str]:
    """Why `rule` does not allow the question: one line per unmet condition."""
    reasons: list[str] = []
    src_ok = [s for s in srcs if any(
        v is not None and rule.src.contains_int(f, v) for f, v in ((4, s.v4), (6, s.v6)))]
    if not src_ok:
        reasons.append(f"src {', '.join(rule.src_text) or '[]'} does not cover the source")
    elif len(src_ok) < len(srcs):
        reasons.append(f"src covers only {len(src_ok)} of {len(srcs)} source devices")
    if rule.self_dst:
        if not any(s.device is not None and not s.device.tags for s in srcs):
            reasons.append("autogroup:self needs an untagged source device")
        elif not any(self_allowed_by(rule, runner.addresses.owner, s, points, f)
                     for s in srcs for f in (4, 6)):
            reasons.append("autogroup:self: the destination is not the source's own device")
    elif rule.internet and not any(rule.dst.contains_int(*p) for p in points):
        reasons.append("autogroup:internet does not cover the destination")
    elif not any(rule.dst.contains_int(*p) for p in points):
        reasons.append(f"dst {', '.join(rule.dst_text)} does not cover the destination")
    if not any(p in rule.protos for p in protos):
        want = "/".join(PROTO_NAMES.get(p, str(p)) for p in sorted(protos))
        reasons.append(f"protocol {want} not in {_protos_text(rule)}")
    elif not any(rule.allows_port(p, port) for p in protos):
        reasons.append(f"port {port} not in {rule.port_text}")
    if rule.posture is not None and not any(
        s.attrs is None or runner.compiled.postures.satisfied(rule.posture, s.attrs)
        for s in srcs
    ):
        reasons.append(f"srcPosture {', '.join(rule.posture)} not met")
    return reasons
