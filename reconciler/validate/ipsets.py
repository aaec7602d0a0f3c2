"""`ipsets`: add/remove operations, allowed targets, references and cycles.

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.references`).
Rules from policy-semantics.md 1.6 (DOC-IPSETS): targets are IPs, CIDRs, IP ranges,
host:<name>, autogroup:internet and other ipsets, never tags, users or groups, and
references must not be circular.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.source import PathKey
from reconciler.validate.context import (
    Context,
    as_list,
    check_prefix,
    section_entries,
    section_key,
)
from reconciler.validate.references import undefined
from reconciler.validate.selectors import (
    AUTOGROUP_INTERNET,
    Kind,
    SelectorSyntaxError,
    parse_selector,
)


def check_ipsets(ctx: Context) -> None:
    graph: dict[str, list[tuple[PathKey, str]]] = {}
    for name, operations in section_entries(ctx, "ipsets"):
        where = section_key("ipsets", name)
        check_prefix(ctx, "ipsets", name, "ipset:")
        ops = [(j, op) for j, op in enumerate(as_list(operations)) if isinstance(op, str)]
        removes = any(op.strip().startswith("remove ") for _, op in ops)
        edges: list[tuple[PathKey, str]] = []
        for j, op in ops:
            path = ("ipsets", name, j)
            verb, _, target = op.strip().partition(" ")
            if verb not in ("add", "remove"):
                target = op.strip()
                if removes:
                    ctx.report(
                        path,
                        f'{where}: "{target}": write "add {target}" when the ipset also removes',
                        "ipset",
                    )
            child = _check_ipset_target(ctx, path, where, target.strip())
            if child is not None:
                edges.append((path, child))
        graph[name.strip()] = edges
    _report_cycles(ctx, graph)


def _check_ipset_target(ctx: Context, path: PathKey, where: str, target: str) -> str | None:
    try:
        sel = parse_selector(target)
    except SelectorSyntaxError as e:
        ctx.report(path, f"{where}: {e}", "selector")
        return None
    ok = sel.kind in (Kind.IP, Kind.CIDR, Kind.IP_RANGE, Kind.HOST, Kind.IPSET) or (
        sel.kind is Kind.AUTOGROUP and sel.value == AUTOGROUP_INTERNET
    )
    if not ok:
        ctx.report(
            path,
            f'{where}: "{sel.text}": an ipset holds IPs, CIDRs, IP ranges, host:<name>, '
            "autogroup:internet or other ipsets",
            "ipset",
        )
        return None
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, f"{where}: {reason}", "not-found")
        return None
    return sel.value if sel.kind is Kind.IPSET else None


def _report_cycles(ctx: Context, graph: Mapping[str, list[tuple[PathKey, str]]]) -> None:
    reported: set[frozenset[str]] = set()

    def visit(node: str, trail: list[str]) -> None:
        for path, child in graph.get(node, []):
            if child in trail:
                cycle = [*trail[trail.index(child) :], child]
                members = frozenset(cycle)
                if members not in reported:
                    reported.add(members)
                    ctx.report(
                        path,
                        f'{section_key("ipsets", node)}: "{child}": ipset references are circular '
                        f"({' -> '.join(cycle)})",
                        "ipset-cycle",
                    )
            else:
                visit(child, [*trail, child])

    for start in sorted(graph):
        visit(start, [start])
