"""Plain reference evaluators: for each assertion, scan every rule. Benchmarks and tests.

Benchmark support (imports the engine's compiler and test runner for parsing). It shares
the compiled rules with the engine, so the two answer the same question; what differs is
the evaluation: no point index, no caches, every (source device, rule, destination
address) combination checked in turn, by the engine's one reference evaluator
(`reconciler.engine.index.rule_allows`). Used to measure the engine's speedup and to
cross-check its verdicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from reconciler.core.errors import CompileError, SelectorError
from reconciler.core.inventory import Device, Inventory
from reconciler.engine.access import AccessEntry, _identity
from reconciler.engine.addrset import AddrSet
from reconciler.engine.compile import CompiledPolicy, Rule, compile_policy
from reconciler.engine.explain import PROTO_NAMES, Explanation, _reasons, _ref, _source_text
from reconciler.engine.index import Point, Source, rule_allows, scan_allowed
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.resolve import device_addrs
from reconciler.engine.tests_runner import TCP_OR_UDP, Invalid, Runner
from reconciler.validate.ports import parse_proto, split_acl_dst


def _rule_allows(rule: Rule, compiled: CompiledPolicy, runner: Runner, src: Source,
                 dst: list[Point], port: int, protos: frozenset[int]) -> bool:
    return rule_allows(rule, compiled.postures, runner.index.owner, src, dst, port, protos)


def reference_verdicts(runner: Runner, tests: list[Mapping[str, Any]]) -> list[bool]:
    """Per assertion of `tests` (accepts then denies, in order): does it hold?"""
    compiled = runner.compiled
    out: list[bool] = []
    for entry in tests:
        try:
            srcs = runner.sources_of(entry["src"], entry.get("srcPostureAttrs"))
        except Invalid:
            out.extend(False for _ in [*entry.get("accept", []), *entry.get("deny", [])])
            continue
        for want, dsts in ((True, entry.get("accept", [])), (False, entry.get("deny", []))):
            for text in dsts:
                points, port = runner.parse_dst(text)
                owner = runner.index.owner
                reached = [scan_allowed(compiled, owner, s, points, port, TCP_OR_UDP)
                           for s in srcs]
                out.append(bool(srcs) and all(reached) if want else not any(reached))
    return out


def engine_verdicts(runner: Runner, tests: list[Mapping[str, Any]]) -> list[bool]:
    """The same per-assertion verdicts from the engine's indexed path (as `run_tests`)."""
    out: list[bool] = []
    for entry in tests:
        attrs = entry.get("srcPostureAttrs")
        srcs = runner.sources_of(entry["src"], attrs)
        group = runner.group_of(str(entry["src"]).strip(), srcs, attrs)
        for want, dsts in ((True, entry.get("accept", [])), (False, entry.get("deny", []))):
            for text in dsts:
                host, points, port = runner.parse_dst_keyed(text)
                got = runner.index.verdict(group, points, port, TCP_OR_UDP, every=want, key=host)
                out.append(got if want else not got)
    return out


def reference_access_matrix(policy: Mapping[str, Any], inventory: Inventory | None = None, *,
                            src: str | None = None, dst: str | None = None
                            ) -> list[AccessEntry]:
    """The access matrix the plain way: per rule, every source and destination identity
    checked by address-set overlap (what `reconciler.engine.access` computed before it
    worked from shared selector rows; the oracle its property tests compare with)."""
    inv = inventory if inventory is not None else synthetic_inventory(policy)
    compiled = compile_policy(policy, inv)
    resolver = compiled.resolver
    try:
        src_filter = resolver.src(src).addrs if src else None
        dst_filter = resolver.dst(dst).addrs if dst else None
    except SelectorError as e:
        raise CompileError(f"--from/--to: {e.summary}") from e
    identities: dict[str, list[Device]] = defaultdict(list)
    for d in inv.devices:
        for ident in _identity(d):
            identities[ident].append(d)
    addrs = {ident: device_addrs(devs) for ident, devs in identities.items()}
    all_devices = device_addrs(inv.devices)
    srcs = {i: a for i, a in addrs.items() if src_filter is None or a.overlaps(src_filter)}
    dsts = {i: a for i, a in addrs.items() if dst_filter is None or a.overlaps(dst_filter)}
    found: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(list))
    for rule in compiled.rules:
        label = ("tcp/udp/icmp" if rule.default_protos
                 else "/".join(PROTO_NAMES.get(p, str(p)) for p in sorted(rule.protos)))
        from_ids = [i for i, a in srcs.items() if rule.src.overlaps(a)]
        if not from_ids:
            continue
        if rule.self_dst:
            for i in from_ids:
                if "@" in i and (dst_filter is None or i in dsts):
                    found[(i, i)][label].extend(rule.ports)
            continue
        to_ids = [i for i, a in dsts.items() if rule.dst.overlaps(a)]
        outside: AddrSet = rule.dst - all_devices
        if outside and (dst_filter is None or outside.overlaps(dst_filter)):
            hosts = [split_acl_dst(t).host if rule.kind == "acl" else t for t in rule.dst_text]
            to_ids.append(", ".join(hosts))
        for i in from_ids:
            for j in to_ids:
                found[(i, j)][label].extend(rule.ports)
    return [
        AccessEntry(s, d, tuple(sorted((label, _ref_ports_text(r)) for label, r in ports.items())))
        for (s, d), ports in sorted(found.items())
    ]


def _ref_ports_text(ranges: list[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if merged == [[0, 65535]]:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in merged)


def reference_explain(policy: Mapping[str, Any], src: str, dst: str, *,
                      proto: str | None = None, inventory: Inventory | None = None,
                      near: int = 3) -> Explanation:
    """`explain` the plain way: every rule checked for every source device (as
    `_rule_allows`), and every rule's unmet conditions spelled out and sorted for the
    near misses (what `reconciler.engine.explain` did before it used the rule index)."""
    inv = inventory if inventory is not None else synthetic_inventory(policy)
    runner = Runner(compile_policy(policy, inv))
    compiled = runner.compiled
    srcs = runner.sources_of(src, None)
    points, port = runner.parse_dst(dst)
    number = parse_proto(proto) if proto else None
    if not srcs:
        raise ValueError(f"{src} has no devices")
    protos = TCP_OR_UDP if number is None else frozenset({number})
    allowing: dict[int, Rule] = {}
    denied: list[str] = []
    owners: dict[str, str] = {}
    for s in srcs:
        rules = [r for r in compiled.rules
                 if _rule_allows(r, compiled, runner, s, points, port, protos)]
        allowing.update((r.index, r) for r in rules)
        if not rules and not compiled.allow_all:
            name = s.device.name if s.device else _source_text(s)
            denied.append(name)
            if s.device is not None:
                owners[name] = s.device.user or ", ".join(s.device.tags)
    result = Explanation(src.strip(), dst.strip(),
                         "tcp or udp" if number is None else PROTO_NAMES.get(number, str(number)),
                         not denied, [_ref(r, None) for _, r in sorted(allowing.items())],
                         sources_denied=denied, sources_total=len(srcs), owners=owners)
    if denied:
        scored = []
        for rule in compiled.rules:
            if rule.index not in allowing:
                reasons = _reasons(runner, rule, srcs, points, port, protos)
                if reasons:
                    scored.append((len(reasons), rule.index, _ref(rule, None, tuple(reasons))))
        scored.sort(key=lambda t: (t[0], t[1]))
        result.near_misses = [ref for _, _, ref in scored[:near]]
    return result
