"""Per-node packet filters: what each device admits, as Tailscale would push it.

engine/ (imports `addrset`, `compile`, `relation`, `resolve`, `reconciler.core.inventory`).
For a device the filter holds every compiled rule whose destination reaches it
(policy-semantics.md §2.4-2.5):

* a rule lands on a device when its dst overlaps the device's own addresses or its
  approved routes (so subnet routers carry CIDR destinations, exit nodes everything);
* a `via` rule lands only on devices carrying one of the via tags;
* autogroup:self lands on each untagged device, from its owner's untagged devices;
* autogroup:internet never reaches a packet filter (it works by route distribution);
* posture-restricted rules admit only compliant tailnet devices (addresses that belong
  to no device, such as subnet sources, are never restricted by posture).

`node_relation` returns the relation restricted to the addresses the device can
receive, per protocol, ready for `relation.canonical`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from reconciler.core.inventory import Device
from reconciler.engine.addrset import EMPTY, AddrSet
from reconciler.engine.compile import AppRule, CompiledPolicy, Rule
from reconciler.engine.relation import Box
from reconciler.engine.resolve import device_addrs


@dataclass(frozen=True)
class FilterEntry:
    """One rule as it lands on one device: the addresses it admits there."""

    rule: Rule
    src: AddrSet
    dst: AddrSet


def receivable(device: Device) -> AddrSet:
    """Addresses traffic arriving at `device` can carry: its own and its approved routes."""
    own = device_addrs([device])
    if device.approved_routes:
        return own | AddrSet.parse_many(device.approved_routes)
    return own


def _posture_src(compiled: CompiledPolicy, rule: Rule | AppRule, src: AddrSet) -> AddrSet:
    if rule.posture is None:
        return src
    failing = [d for d in compiled.inventory.devices
               if not compiled.postures.satisfied(rule.posture, d.posture)]
    return src - device_addrs(failing) if failing else src


def _self_parts(compiled: CompiledPolicy, device: Device) -> tuple[AddrSet, AddrSet]:
    """(own addresses, addresses of the owner's untagged devices) for autogroup:self."""
    if device.tags or not device.user:
        return EMPTY, EMPTY
    return device_addrs([device]), device_addrs(compiled.resolver.user_devices(device.user))


def node_filter(compiled: CompiledPolicy, device: Device) -> list[FilterEntry]:
    """Every network rule as it lands on `device`, in policy order."""
    reach = receivable(device)
    own_self, owner_devices = _self_parts(compiled, device)
    out: list[FilterEntry] = []
    for rule in compiled.rules:
        if rule.internet:
            continue
        if rule.self_dst:
            if not own_self:
                continue
            src = rule.src & owner_devices
            dst = own_self
        else:
            if rule.via and not set(rule.via) & set(device.tags):
                continue
            dst = rule.dst & reach
            src = rule.src
        if not dst:
            continue
        src = _posture_src(compiled, rule, src)
        if src:
            out.append(FilterEntry(rule, src, dst))
    return out


def node_relation(compiled: CompiledPolicy, device: Device) -> dict[Hashable, list[Box]]:
    """`node_filter` as boxes per IP protocol number."""
    boxes: dict[Hashable, list[Box]] = defaultdict(list)
    for entry in node_filter(compiled, device):
        box = Box(entry.src, entry.dst, entry.rule.ports)
        for proto in entry.rule.protos:
            boxes[proto].append(box)
    return dict(boxes)


def node_app_relation(compiled: CompiledPolicy, device: Device) -> dict[Hashable, list[Box]]:
    """App capability grants landing on `device`, keyed (capability, JSON of a parameter)."""
    import json

    own = device_addrs([device])
    own_self, owner_devices = _self_parts(compiled, device)
    boxes: dict[Hashable, list[Box]] = defaultdict(list)
    for app in compiled.app_rules:
        if app.self_dst:
            src, dst = app.src & owner_devices, own_self
        else:
            src, dst = app.src, app.dst & own
        src = _posture_src(compiled, app, src)
        if not src or not dst:
            continue
        for cap, params in app.caps.items():
            for param in params or [None]:
                boxes[(cap, json.dumps(param, sort_keys=True))].append(Box(src, dst, ((0, 0),)))
    return dict(boxes)


def filter_rules(compiled: CompiledPolicy, device: Device) -> list[dict[str, Any]]:
    """`node_filter` rendered as Tailscale FilterRules (one per landed rule, not merged)."""
    out: list[dict[str, Any]] = []
    for entry in node_filter(compiled, device):
        rule: dict[str, Any] = {
            "SrcIPs": entry.src.to_strings(),
            "DstPorts": [
                {"IP": ip, "Ports": {"First": a, "Last": b}}
                for ip in entry.dst.to_strings() for a, b in entry.rule.ports
            ],
        }
        if not entry.rule.default_protos:
            rule["IPProto"] = sorted(entry.rule.protos)
        out.append(rule)
    return out
