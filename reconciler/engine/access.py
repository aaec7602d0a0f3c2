"""The effective access matrix: which identity reaches which, on which ports.

engine/ (imports `addrset`, `compile`, `resolve`, `index` for the device points,
`explain` for names, `reconciler.core.inventory`, `reconciler.validate.ports`). Identities are
user logins (for their untagged devices) and tags (for tagged devices); a destination
that is no device (a subnet, `*`, a host alias) appears as the rule's own dst text. An
identity reaches another when some device of the first reaches some device of the
second under some rule. Ports are merged per protocol. `--from` / `--to` selectors keep
only identities whose devices they cover.

The matrix can hold millions of rows, so it is built from shared parts, never per
(source, rule, destination):

* every selector is resolved once to the identities whose device addresses it holds
  (through the device points of `index._Points`; a rule's src or dst is the union of
  its selectors, so "the rule's src overlaps the identity" is "one of its src
  selectors does");
* each src selector gets the row it contributes (destination -> protocol -> ports)
  from the rules naming it; a source's row is the merge of the rows of the src
  selectors holding it;
* sources are taken in order of their selectors, most shared first: the merged row of
  a shared prefix (say autogroup:member, then group:eng) is built and rendered once,
  and each source only overlays its own few selectors on it;
* rows are rendered (text, JSON or `AccessEntry`) and streamed one source at a time.

The plain per-rule evaluation this must agree with is `reference_access_matrix` in
`benchmarks/reference.py`; tests/engine/test_access_fast.py pins the two together.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from reconciler.core.errors import CompileError, SelectorError
from reconciler.core.inventory import Device, Inventory
from reconciler.engine.addrset import AddrSet, merge_intervals
from reconciler.engine.compile import compile_policy
from reconciler.engine.explain import PROTO_NAMES
from reconciler.engine.index import _Points
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.resolve import device_addrs
from reconciler.validate.ports import split_acl_dst

Ranges = tuple[tuple[int, int], ...]
LabelMap = tuple[tuple[str, Ranges], ...]  # (protocol label, merged port ranges), by label
Ports = tuple[tuple[str, str], ...]  # (protocol label, ports text) pairs, sorted
# (source, its (destination, ports) pairs, its own cell or None, list shared): shared_rows
SharedRow = tuple[str, list[tuple[str, Ports]], Ports | None, bool]


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


@lru_cache(maxsize=1 << 14)
def _merge_ranges(ranges: Ranges) -> Ranges:
    """Sorted, merged ranges; cached (policies repeat the same few port lists)."""
    return merge_intervals(ranges)


@lru_cache(maxsize=1 << 14)
def _ports_text(ranges: Ranges) -> str:
    """Merged port ranges as the matrix shows them (`*` for every port)."""
    if ranges == ((0, 65535),):
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


@lru_cache(maxsize=1 << 16)
def _combine(a: LabelMap, b: LabelMap) -> LabelMap:
    """`a` with `b`'s ports added (equal to `a` when that changes nothing); cached: a
    matrix merges the same few port maps millions of times."""
    merged = dict(a)
    for label, ranges in b:
        cur = merged.get(label)
        merged[label] = ranges if cur is None else _merge_ranges(cur + ranges)
    return tuple(sorted(merged.items()))


def _label_map(per: Mapping[str, list[tuple[int, int]]]) -> LabelMap:
    return tuple(sorted((label, _merge_ranges(tuple(r))) for label, r in per.items()))


@lru_cache(maxsize=1 << 16)
def _ports_of(labels: LabelMap) -> tuple[tuple[str, str], ...]:
    """The (label, ports text) pairs of an `AccessEntry`, sorted as they are."""
    return tuple((label, _ports_text(r)) for label, r in labels)


# --- rendering: one row item per destination, one chunk per source ---------------------

class _Format(Protocol):
    """How row items and chunks look: text lines, JSON objects or `AccessEntry`s."""

    def item(self, dst: str, ports: tuple[tuple[str, str], ...]) -> Any: ...

    def chunk(self, src: str, items: list[Any], first: bool) -> Any: ...


class _Text:
    def item(self, dst: str, ports: tuple[tuple[str, str], ...]) -> str:
        return f"{dst}: " + "; ".join(f"{p} {text}" for p, text in ports)

    def chunk(self, src: str, items: list[str], first: bool) -> str:
        prefix = f"{src} -> "
        return prefix + ("\n" + prefix).join(items) + "\n"


class _Json:
    """`json.dumps([entry.to_dict() ...], indent=2)`, cut into pieces per source."""

    def item(self, dst: str, ports: tuple[tuple[str, str], ...]) -> str:
        body = ",\n".join(
            f'      {{\n        "proto": {json.dumps(p)},\n        "ports": {json.dumps(t)}\n'
            "      }" for p, t in ports)
        listed = f"[\n{body}\n    ]" if ports else "[]"
        return f',\n    "to": {json.dumps(dst)},\n    "ports": {listed}\n  }}'

    def chunk(self, src: str, items: list[str], first: bool) -> str:
        head = f'  {{\n    "from": {json.dumps(src)}'
        return ("" if first else ",\n") + head + (",\n" + head).join(items)


class _Entries:
    def item(self, dst: str, ports: tuple[tuple[str, str], ...]) -> tuple[str, Any]:
        return dst, ports

    def chunk(self, src: str, items: list[tuple[str, Any]], first: bool) -> list[AccessEntry]:
        return [AccessEntry(src, dst, ports) for dst, ports in items]


class _Row:
    """A merged row: destinations (sorted), their ports per label, and rendered items."""

    __slots__ = ("items", "labels", "names")

    def __init__(self, names: list[str], labels: list[LabelMap], items: list[Any]) -> None:
        self.names = names
        self.labels = labels
        self.items = items

    def plus(self, part: Mapping[str, LabelMap], item: Callable[[str, Any], Any]) -> _Row:
        """This row with `part`'s ports added (a new row; this one is left as it is)."""
        names, labels, items = self.names, self.labels, self.items
        copied = False
        new: list[tuple[int, str, LabelMap]] = []
        for name, lm in part.items():
            pos = bisect_left(names, name)
            if pos < len(names) and names[pos] == name:
                merged = _combine(labels[pos], lm)
                if merged == labels[pos]:
                    continue
                if not copied:
                    labels, items, copied = list(labels), list(items), True
                labels[pos] = merged
                items[pos] = item(name, merged)
            else:
                new.append((pos, name, lm))
        if not new:
            return _Row(names, labels, items) if copied else self
        # Splice the new destinations in: slices of the sorted lists between them.
        new.sort(key=lambda t: t[1])
        out_names: list[str] = []
        out_labels: list[LabelMap] = []
        out_items: list[Any] = []
        prev = 0
        for pos, name, lm in new:
            out_names += names[prev:pos]
            out_labels += labels[prev:pos]
            out_items += items[prev:pos]
            out_names.append(name)
            out_labels.append(lm)
            out_items.append(item(name, lm))
            prev = pos
        out_names += names[prev:]
        out_labels += labels[prev:]
        out_items += items[prev:]
        return _Row(out_names, out_labels, out_items)


_EMPTY_ROW = _Row([], [], [])


class AccessMatrix:
    """The matrix of one policy over one inventory, ready to stream in any format."""

    def __init__(self, sources: list[str], selectors: dict[str, tuple[str, ...]],
                 parts: dict[str, dict[str, LabelMap]], own: dict[str, LabelMap]) -> None:
        self._sources = sources  # sorted source identities with some row
        self._selectors = selectors  # source -> its src selectors, most shared first
        self._parts = parts  # src selector -> the row it contributes
        self._own = own  # source -> ports to itself from autogroup:self rules

    def __bool__(self) -> bool:
        return bool(self._sources)

    def _rows(self, item: Callable[[str, LabelMap], Any]
              ) -> Iterator[tuple[str, _Row, LabelMap | None, bool]]:
        """Each source, the row of its selectors (one object for sources with the same
        selectors), its ports to itself from autogroup:self rules, not yet merged, and
        whether another source shares the row object."""
        counts = Counter(sels[:k] for sels in self._selectors.values()
                         for k in range(1, len(sels) + 1))
        shared: dict[tuple[str, ...], _Row] = {}

        def row_of(sels: tuple[str, ...]) -> _Row:
            if not sels:
                return _EMPTY_ROW
            found = shared.get(sels)
            if found is None:
                found = row_of(sels[:-1]).plus(self._parts[sels[-1]], item)
                if counts[sels] > 1:  # shared with another source's selectors: keep it
                    shared[sels] = found
            return found

        for src in self._sources:
            sels = self._selectors[src]
            yield src, row_of(sels), self._own.get(src), counts[sels] > 1

    def _chunks(self, fmt: _Format) -> Iterator[Any]:
        def item(name: str, labels: LabelMap) -> Any:
            return fmt.item(name, _ports_of(labels))

        first = True
        for src, row, own, _ in self._rows(item):
            if own is not None:
                row = row.plus({src: own}, item)
            if row.items:
                yield fmt.chunk(src, row.items, first)
                first = False

    def shared_rows(self, cell: Callable[[str, Ports], Any] | None = None
                    ) -> Iterator[SharedRow]:
        """Per source: its (destination, ports) pairs, sorted by destination, before its
        own autogroup:self ports; its whole cell to itself when it has those (it
        replaces the list's); and whether the list object is shared. Sources with the
        same selectors get the same list object, so a consumer can work once per list
        (keeping only shared ones: the others are many and used once): read-only.

        With `cell`, each pair is (destination, `cell(destination, ports)`) instead:
        made once per distinct pair of a list, far fewer than the pairs of all lists."""
        def item(name: str, labels: LabelMap) -> tuple[str, Any]:
            ports = _ports_of(labels)
            return name, ports if cell is None else cell(name, ports)

        for src, row, own, shared in self._rows(item):
            if own is None:
                if row.items:
                    yield src, row.items, None, shared
                continue
            pos = bisect_left(row.names, src)
            mine = row.labels[pos] if pos < len(row.names) and row.names[pos] == src else ()
            yield src, row.items, _ports_of(_combine(mine, own)), shared

    def entries(self) -> Iterator[AccessEntry]:
        for chunk in self._chunks(_Entries()):
            yield from chunk

    def text(self) -> Iterator[str]:
        """The lines of `access` text output, a source at a time."""
        return self._chunks(_Text())

    def json(self) -> Iterator[str]:
        """`json.dumps([e.to_dict() for e in entries], indent=2)` in pieces."""
        empty = True
        for chunk in self._chunks(_Json()):
            yield ("[\n" if empty else "") + chunk
            empty = False
        yield "[]" if empty else "\n]"


def access_matrix(policy: Mapping[str, Any], inventory: Inventory | None = None, *,
                  src: str | None = None, dst: str | None = None) -> list[AccessEntry]:
    """Every (source identity, destination identity) pair with the ports allowed."""
    return list(compute_access(policy, inventory, src=src, dst=dst).entries())


def compute_access(policy: Mapping[str, Any], inventory: Inventory | None = None, *,
                   src: str | None = None, dst: str | None = None) -> AccessMatrix:
    """The access matrix of `policy`, to stream with `.text()`, `.json()`, `.entries()`."""
    inv = inventory if inventory is not None else synthetic_inventory(policy)
    compiled = compile_policy(policy, inv)
    resolver = compiled.resolver
    try:
        src_filter = resolver.src(src).addrs if src else None
        dst_filter = resolver.dst(dst).addrs if dst else None
    except SelectorError as e:
        raise CompileError(f"--from/--to: {e.summary}") from e

    points = _Points(inv.devices)
    device_pids = points.device_pids
    identities: dict[str, list[Device]] = defaultdict(list)
    for d in inv.devices:
        for ident in _identity(d):
            identities[ident].append(d)
    # point id -> identities holding it (several when devices share an address)
    at: list[list[str]] = [[] for _ in range(len(points.pid))]
    for ident, devs in identities.items():
        for pid in {p for d in devs for p in device_pids[id(d)]}:
            at[pid].append(ident)

    def holders(pids: list[int] | set[int]) -> set[str]:
        return {ident for pid in pids for ident in at[pid]}

    def covered(addrs: AddrSet | None) -> set[str] | None:
        return None if addrs is None else holders(points.points_in(addrs)[0])

    src_ok, dst_ok = covered(src_filter), covered(dst_filter)

    def resolve(selector: str, dst_side: bool) -> tuple[set[str], bool]:
        """Identities whose devices' addresses meet the selector, and whether it holds
        addresses of no device."""
        devices = resolver.identity_devices(selector)
        if devices is not None:  # exactly its devices' addresses
            return holders({p for d in devices for p in device_pids[id(d)]}), False
        target = resolver.dst(selector) if dst_side else resolver.src(selector)
        hits, beyond = points.points_in(target.addrs)
        return holders(hits), beyond

    src_sels: dict[str, set[str]] = {}
    dst_sels: dict[str, tuple[set[str], bool]] = {}
    all_devices: AddrSet | None = None
    outside_ok: dict[tuple[str, ...], bool] = {}
    targets: dict[tuple[tuple[str, ...], str, tuple[str, ...]], list[str]] = {}
    labels: dict[tuple[bool, frozenset[int]], str] = {}
    # src selector -> destination -> label -> port ranges, raw (merged below)
    raw: dict[str, dict[str, dict[str, list[tuple[int, int]]]]] = defaultdict(dict)
    raw_self: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(dict)

    def sources_in(selectors: tuple[str, ...]) -> list[str]:
        """The selectors (of a rule's src) that hold some source identity."""
        out = []
        for s in selectors:
            found = src_sels.get(s)
            if found is None:
                found = src_sels[s] = resolve(s, False)[0]
                if src_ok is not None:
                    found &= src_ok
            if found:
                out.append(s)
        return out

    for rule in compiled.rules:
        from_sels = sources_in(rule.src_sel)
        if not from_sels:  # as with `--from`: no source this rule could add a row to
            continue
        lkey = (rule.default_protos, rule.protos)
        label = labels.get(lkey)
        if label is None:
            label = labels[lkey] = ("tcp/udp/icmp" if rule.default_protos else "/".join(
                PROTO_NAMES.get(p, str(p)) for p in sorted(rule.protos)))
        if rule.self_dst:
            for s in from_sels:
                raw_self[s].setdefault(label, []).extend(rule.ports)
            continue
        tkey = (rule.dst_sel, rule.kind, rule.dst_text)
        to = targets.get(tkey)
        if to is None:
            names: set[str] = set()
            beyond = False
            for s in rule.dst_sel:
                found = dst_sels.get(s)
                if found is None:
                    found = dst_sels[s] = resolve(s, True)
                names |= found[0]
                beyond = beyond or found[1]
            if dst_ok is not None:
                names &= dst_ok
            to = sorted(names)
            if beyond and dst_filter is not None:
                ok = outside_ok.get(rule.dst_sel)
                if ok is None:
                    if all_devices is None:
                        all_devices = device_addrs(inv.devices)
                    ok = outside_ok[rule.dst_sel] = (rule.dst - all_devices).overlaps(dst_filter)
                beyond = ok
            if beyond:
                to.append(", ".join(split_acl_dst(t).host if rule.kind == "acl" else t
                                    for t in rule.dst_text))
            targets[tkey] = to
        if not to:
            continue
        for s in from_sels:
            row = raw[s]
            for name in to:
                per = row.get(name)
                if per is None:
                    row[name] = {label: list(rule.ports)}
                else:
                    per.setdefault(label, []).extend(rule.ports)

    parts: dict[str, dict[str, LabelMap]] = {
        s: {name: _label_map(per) for name, per in row.items()} for s, row in raw.items()}
    selves = {s: _label_map(per) for s, per in raw_self.items()}
    held: dict[str, list[str]] = defaultdict(list)  # source -> its src selectors
    for s in {*parts, *selves}:
        for ident in src_sels[s]:
            held[ident].append(s)
    reach = Counter(s for sels in held.values() for s in sels)
    order: dict[str, tuple[str, ...]] = {}
    own: dict[str, LabelMap] = {}
    for ident, sels in held.items():
        order[ident] = tuple(sorted((s for s in sels if s in parts),
                                    key=lambda s: (-reach[s], s)))
        if "@" in ident and (dst_ok is None or ident in dst_ok):
            mine: LabelMap = ()
            for s in sels:
                if s in selves:
                    mine = _combine(mine, selves[s])
            if mine:
                own[ident] = mine
    return AccessMatrix(sorted(ident for ident in held if order[ident] or ident in own),
                        order, parts, own)
