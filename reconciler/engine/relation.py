"""Allow relations as canonical values, and Tailscale's FilterRule wire form read into them.

engine/ (imports `addrset` only). A relation is a union of boxes
(src set × dst set × port ranges) per protocol (or per app capability). Different rule
lists can describe the same relation (SaaS merges rules with equal sources, orders
them its own way, splits address lists differently); `canonical()` turns any list of
boxes into the one value that depends only on the relation itself, so two relations
are equal exactly when their canonical forms are.

The canonical form is the relation as a function: port segment -> dst segment -> src
set, where the segments come from every boundary and adjacent segments that map to
the same thing are merged. That maximal partition is unique.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.addrset import ALL, EMPTY, AddrSet, Interval, union_all

DEFAULT_PROTOS: tuple[int, ...] = (6, 17, 1, 58)
_V6_OFFSET = 1 << 40  # IPv6 on one line with IPv4, never adjacent to it


@dataclass(frozen=True)
class Box:
    src: AddrSet
    dst: AddrSet
    ports: tuple[Interval, ...]


Canonical = tuple[tuple[Interval, tuple[tuple[Interval, AddrSet], ...]], ...]


def _line(dst: AddrSet) -> list[Interval]:
    return [*dst.v4, *((a + _V6_OFFSET, b + _V6_OFFSET) for a, b in dst.v6)]


def _segments(bounds: Iterable[Interval]) -> list[Interval]:
    points: set[int] = set()
    for a, b in bounds:
        points.add(a)
        points.add(b + 1)
    edges = sorted(points)
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def _covers(intervals: Sequence[Interval], seg: Interval) -> bool:
    return any(a <= seg[0] and seg[1] <= b for a, b in intervals)


def canonical(boxes: Iterable[Box]) -> Canonical:
    """The unique form of the union of `boxes` (empty boxes contribute nothing)."""
    live = [b for b in boxes if b.src and b.dst and b.ports]
    out: list[tuple[Interval, tuple[tuple[Interval, AddrSet], ...]]] = []
    for pseg in _segments(p for b in live for p in b.ports):
        here = [b for b in live if _covers(b.ports, pseg)]
        lines = [(_line(b.dst), b.src) for b in here]
        dsts: list[tuple[Interval, AddrSet]] = []
        for dseg in _segments(iv for line, _ in lines for iv in line):
            srcs = [src for line, src in lines if _covers(line, dseg)]
            if not srcs:
                continue
            src = union_all(srcs)
            if dsts and dsts[-1][0][1] + 1 == dseg[0] and dsts[-1][1] == src:
                dsts[-1] = ((dsts[-1][0][0], dseg[1]), src)
            else:
                dsts.append((dseg, src))
        if not dsts:
            continue
        key = tuple(dsts)
        if out and out[-1][0][1] + 1 == pseg[0] and out[-1][1] == key:
            out[-1] = ((out[-1][0][0], pseg[1]), key)
        else:
            out.append((pseg, key))
    return tuple(out)


def canonical_by_key(boxes: Mapping[Hashable, list[Box]]) -> dict[Hashable, Canonical]:
    """Canonical forms per key (protocol, or app capability), dropping empty ones."""
    out: dict[Hashable, Canonical] = {}
    for key, items in boxes.items():
        form = canonical(items)
        if form:
            out[key] = form
    return out


def restrict(boxes: Mapping[Hashable, list[Box]], dst: AddrSet) -> dict[Hashable, list[Box]]:
    """Only the part of each box whose destination lies in `dst`."""
    return {k: [Box(b.src, b.dst & dst, b.ports) for b in v] for k, v in boxes.items()}


def _addrs(texts: Iterable[str]) -> AddrSet:
    out = EMPTY
    for t in texts:
        out = out | (ALL if t.strip() == "*" else AddrSet.parse(t))
    return out


def parse_filter_rules(rules: Sequence[Mapping[str, Any]] | None
                       ) -> tuple[dict[Hashable, list[Box]], dict[Hashable, list[Box]]]:
    """Tailscale FilterRules -> (network boxes per protocol, cap boxes per capability).

    Cap keys are ``(capability, JSON of one parameter object)`` so that SaaS merging the
    parameter lists of several grants does not change the relation.
    """
    net: dict[Hashable, list[Box]] = defaultdict(list)
    caps: dict[Hashable, list[Box]] = defaultdict(list)
    for rule in rules or []:
        src = _addrs(rule.get("SrcIPs") or [])
        protos = rule.get("IPProto") or DEFAULT_PROTOS
        for dp in rule.get("DstPorts") or []:
            ports = dp.get("Ports") or {"First": 0, "Last": 65535}
            box = Box(src, _addrs([dp["IP"]]), ((int(ports["First"]), int(ports["Last"])),))
            for proto in protos:
                net[int(proto)].append(box)
        for grant in rule.get("CapGrant") or []:
            dst = _addrs(grant.get("Dsts") or [])
            for cap, params in (grant.get("CapMap") or {}).items():
                for param in params or [None]:
                    caps[(cap, json.dumps(param, sort_keys=True))].append(
                        Box(src, dst, ((0, 0),)))
    return dict(net), dict(caps)
