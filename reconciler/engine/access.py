"""The effective access matrix: which identity reaches which, on which ports.

Engine layer (imports `addrset`, `compile`, `resolve`, `explain` for names,
`reconciler.inventory`, `reconciler.policy.ports`). Identities are user logins (for
their untagged devices) and tags (for tagged devices); a destination that is no device
(a subnet, `*`, a host alias) appears as the rule's own dst text. An identity reaches
another when some device of the first reaches some device of the second under some
rule. Ports are merged per protocol. `--from` / `--to` selectors keep only identities
whose devices they cover.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.engine.addrset import AddrSet
from reconciler.engine.compile import CompileError, compile_policy
from reconciler.engine.explain import PROTO_NAMES
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.resolve import SelectorError, device_addrs
from reconciler.inventory import Device, Inventory
from reconciler.policy.ports import split_acl_dst


@dataclass(frozen=True)
class AccessEntry:
    src: str
    dst: str
    ports: tuple[tuple[str, str], ...]  # (protocol label, ports) pairs, sorted

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst,
                "ports": [{"proto": p, "ports": ports} for p, ports in self.ports]}

    def __str__(self) -> str:
        ports = "; ".join(f"{p} {ports}" for p, ports in self.ports)
        return f"{self.src} -> {self.dst}: {ports}"


def _identity(device: Device) -> list[str]:
    if device.tags:
        return list(device.tags)
    return [device.user] if device.user else [device.name]


def _ports_text(ranges: list[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if merged == [[0, 65535]]:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in merged)


def access_matrix(policy: Mapping[str, Any], inventory: Inventory | None = None, *,
                  src: str | None = None, dst: str | None = None) -> list[AccessEntry]:
    """Every (source identity, destination identity) pair with the ports allowed."""
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
        AccessEntry(s, d, tuple(sorted((label, _ports_text(r)) for label, r in ports.items())))
        for (s, d), ports in sorted(found.items())
    ]
