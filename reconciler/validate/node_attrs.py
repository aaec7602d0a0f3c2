"""`nodeAttrs` entries: targets and ipPool.

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.references`).
Wording per the nodeattrs captures: ``"%bogus%": invalid address``,
``tag not found: "tag:undefined-tag"`` (no prefix), and policy-semantics.md 1.8.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from reconciler.core.source import PathKey
from reconciler.validate.context import Context, as_list
from reconciler.validate.references import undefined
from reconciler.validate.selectors import (
    AUTOGROUP_MEMBERS,
    AUTOGROUP_TAGGED,
    ROLE_AUTOGROUPS,
    Kind,
    SelectorSyntaxError,
    parse_network,
    parse_selector,
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RESERVED_POOLS = (
    ipaddress.ip_network("100.100.100.0/24"),  # MagicDNS / TSMP
    ipaddress.ip_network("100.115.92.0/23"),  # ChromeOS VM range
)
# The legacy autogroup:members too: a target wherever autogroup:member is.
_TARGET_AUTOGROUPS = ROLE_AUTOGROUPS | {AUTOGROUP_TAGGED, AUTOGROUP_MEMBERS}


def check_node_attrs(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("nodeAttrs"))):
        if not isinstance(entry, Mapping):
            continue
        for j, text in enumerate(as_list(entry.get("target"))):
            if isinstance(text, str):
                _check_target(ctx, ("nodeAttrs", i, "target", j), text)
        for j, attr in enumerate(as_list(entry.get("attr"))):
            if isinstance(attr, str) and not attr.strip():
                ctx.report(("nodeAttrs", i, "attr", j), "attr values cannot be empty", "attr")
        for j, pool in enumerate(as_list(entry.get("ipPool"))):
            if isinstance(pool, str):
                _check_ip_pool(ctx, ("nodeAttrs", i, "ipPool", j), pool.strip())


def _check_target(ctx: Context, path: PathKey, text: str) -> None:
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError as e:
        ctx.report(path, str(e), "selector")
        return
    if sel.kind is Kind.AUTOGROUP and sel.value not in _TARGET_AUTOGROUPS:
        ctx.report(path, f'"{sel.value}" is not a valid nodeAttrs target', "target")
        return
    if sel.kind in (Kind.SERVICE, Kind.IP_RANGE):
        ctx.report(path, f'"{sel.text}" is not a valid nodeAttrs target', "target")
        return
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, reason, "not-found")
        return
    domain = ctx.domain_problem(sel)
    if domain is not None:
        ctx.report(path, domain, "domain")


def _check_ip_pool(ctx: Context, path: PathKey, text: str) -> None:
    network = parse_network(text)
    if network is None:
        ctx.report(path, f'ipPool "{text}": invalid CIDR', "ipPool")
    elif network.version != 4 or not network.subnet_of(_CGNAT):  # type: ignore[arg-type]
        ctx.report(path, f"IPPool({text}): network not within 100.64.0.0/10", "ipPool")
    elif any(network.overlaps(reserved) for reserved in _RESERVED_POOLS):
        ctx.report(path, f"IPPool({text}): network within reserved range", "ipPool")
