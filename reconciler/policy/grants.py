"""`grants` entries: src and dst selectors, ip, app capability names, via, srcPosture.

Policy model layer (imports `policy.context`, `policy.ports`, `policy.selectors`,
`policy.references`, `policy.rule_sides`). Wording per policy-semantics.md 1.4, 2.5, 2.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.policy.context import Context, as_list, as_map
from reconciler.policy.ports import (
    PortError,
    ProtoError,
    parse_grant_ip,
    parse_ports,
    split_acl_dst,
)
from reconciler.policy.references import undefined
from reconciler.policy.rule_sides import (
    check_dst_selector,
    check_self_sources,
    check_src,
    check_src_posture,
    parse_or_report,
    string_items,
)
from reconciler.policy.selectors import (
    AUTOGROUP_INTERNET,
    AUTOGROUP_SELF,
    Kind,
    Selector,
    SelectorError,
    parse_selector,
)
from reconciler.source import PathKey

# tailscale.com capabilities users may grant (HS types.go tailscaleCapAllowlist, matching
# SaaS captures grant-a5/k9/k10 rejecting relay-target, ingress and funnel).
ALLOWED_TAILSCALE_CAPS = frozenset(
    {
        "tailscale.com/cap/drive",
        "tailscale.com/cap/relay",
        "tailscale.com/cap/webui",
        "tailscale.com/cap/kubernetes",
        "tailscale.com/cap/tsidp",
        "tailscale.com/cap/secrets",
    }
)


def check_grants(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("grants"))):
        if isinstance(entry, Mapping):
            _check_grant(ctx, ("grants", i), entry)


def _check_grant(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    sources: list[tuple[PathKey, Selector]] = []
    for j, text in string_items(entry.get("src")):
        path = (*base, "src", j)
        sel = parse_or_report(ctx, path, text, "src=")
        if sel is not None:
            check_src(ctx, path, sel)
            sources.append((path, sel))

    ip_list = as_list(entry.get("ip"))
    app = as_map(entry.get("app"))
    if not ip_list and not app:
        ctx.report(base, "ip and app can not both be empty", "grant-empty")

    has_self = False
    has_internet = False
    for j, text in string_items(entry.get("dst")):
        path = (*base, "dst", j)
        if _has_acl_style_port(ctx, text):
            ctx.report(
                path,
                f'dst="{text.strip()}": grant destinations take no ports; put them in "ip"',
                "dst",
            )
            continue
        sel = parse_or_report(ctx, path, text, "dst=")
        if sel is None:
            continue
        if sel.kind is Kind.CIDR and sel.network is not None and sel.network.prefixlen == 0:
            ctx.report(
                path,
                f'dst "{sel.network}": to allow all IP addresses, use "*" or "autogroup:internet"',
                "dst",
            )
            continue
        if sel.kind is Kind.AUTOGROUP:
            has_self = has_self or sel.value == AUTOGROUP_SELF
            has_internet = has_internet or sel.value == AUTOGROUP_INTERNET
        check_dst_selector(ctx, path, sel, sel.text)

    for j, text in string_items(entry.get("ip")):
        try:
            parse_grant_ip(text)
        except (PortError, ProtoError) as e:
            ctx.report((*base, "ip", j), str(e), "ip")

    for name in (n for n in app if isinstance(n, str)):
        _check_cap_name(ctx, (*base, "app", name), name)
    if app and has_internet:
        ctx.report((*base, "app"), "cannot use app grants with autogroup:internet", "app")

    for j, text in string_items(entry.get("via")):
        path = (*base, "via", j)
        try:
            sel = parse_selector(text)
        except SelectorError:
            sel = None
        if sel is None or sel.kind is not Kind.TAG:
            ctx.report(path, "via can only be a tag", "via")
        elif sel.value not in ctx.tags:
            ctx.report(path, f'tag "{sel.value}" not found', "not-found")

    if has_self:
        check_self_sources(ctx, sources, wildcard_ok=False)
    check_src_posture(ctx, base, entry)


def _has_acl_style_port(ctx: Context, text: str) -> bool:
    """Whether a grant dst is written ACL-style (`tag:web:443`, `db1:22`, `*:*`): the whole
    is no valid, defined selector, but it splits into one plus a port list."""
    try:
        whole = parse_selector(text)
    except SelectorError:
        whole = None
    if whole is not None and undefined(ctx, whole) is None:
        return False
    host, ports = split_acl_dst(text)
    if not ports:
        return False
    try:
        parse_ports(ports)
        parse_selector(host)
    except (PortError, SelectorError):
        return False
    return True


def _check_cap_name(ctx: Context, path: PathKey, name: str) -> None:
    domain, slash, rest = name.partition("/")
    if "://" in name or not slash or not domain or not rest:
        ctx.report(path, "capability name must have the form {domain}/{path}", "app", key=True)
    elif domain == "tailscale.com" and name not in ALLOWED_TAILSCALE_CAPS:
        ctx.report(path, "capability name must not be in the tailscale.com domain", "app", key=True)
