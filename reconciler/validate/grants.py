"""`grants` entries: src and dst selectors, ip, app capability names, via, srcPosture.

Policy model layer (imports `policy.context`, `policy.ports`, `policy.selectors`,
`policy.references`, `policy.rule_sides`). Wording per policy-semantics.md 1.4, 2.5, 2.9.
What is wrong with a src or dst string is worked out once per distinct string (`Memo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from reconciler.core.source import PathKey
from reconciler.core.suggest import did_you_mean_name
from reconciler.validate.context import Context, Found, Memo, as_list, as_map, report_found
from reconciler.validate.ports import (
    PortError,
    ProtoError,
    parse_grant_ip,
    parse_ports,
    split_acl_dst,
)
from reconciler.validate.references import undefined
from reconciler.validate.rule_sides import (
    SourceMemo,
    check_rule_section,
    check_self_sources,
    check_src_posture,
    dst_selector_problems,
    string_items,
)
from reconciler.validate.selectors import (
    AUTOGROUP_INTERNET,
    AUTOGROUP_SELF,
    Kind,
    Selector,
    SelectorSyntaxError,
    parse_selector,
)

# tailscale.com capabilities users may grant: the ones Tailscale documents for grants
# (app capabilities page; golink's and tailsql's READMEs), not only Headscale's shorter
# `tailscaleCapAllowlist`, which lacks golink and tailsql (Headscale refuses those; its
# dialect says so, this one follows Tailscale). SaaS captures grant-a5/k9/k10 reject the
# server-made companions relay-target, ingress and funnel.
ALLOWED_TAILSCALE_CAPS = frozenset(
    {
        "tailscale.com/cap/drive",
        "tailscale.com/cap/relay",
        "tailscale.com/cap/webui",
        "tailscale.com/cap/kubernetes",
        "tailscale.com/cap/tsidp",
        "tailscale.com/cap/secrets",
        "tailscale.com/cap/golink",
        "tailscale.com/cap/tailsql",
    }
)


class _Dst(NamedTuple):
    """What one grant dst string says."""

    found: Found
    is_self: bool
    is_internet: bool


def _dst(ctx: Context, text: str) -> _Dst:
    if _has_acl_style_port(ctx, text):
        message = f'dst="{text.strip()}": grant destinations take no ports; put them in "ip"'
        return _Dst(((message, "dst"),), False, False)
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError as e:
        return _Dst(((f"dst={e}", "selector"),), False, False)
    if sel.kind is Kind.CIDR and sel.network is not None and sel.network.prefixlen == 0:
        message = f'dst "{sel.network}": to allow all IP addresses, use "*" or "autogroup:internet"'
        return _Dst(((message, "dst"),), False, False)
    is_autogroup = sel.kind is Kind.AUTOGROUP
    return _Dst(
        dst_selector_problems(ctx, sel, sel.text),
        is_autogroup and sel.value == AUTOGROUP_SELF,
        is_autogroup and sel.value == AUTOGROUP_INTERNET,
    )


def check_grants(ctx: Context) -> None:
    check_rule_section(ctx, "grants", _dst, _check_grant)


def _check_grant(
    ctx: Context,
    srcs: SourceMemo,
    dsts: Memo[_Dst],
    base: PathKey,
    entry: Mapping[str, Any],
) -> None:
    sources: list[tuple[PathKey, Selector]] = []
    for j, text in string_items(entry.get("src")):
        sel, found = srcs(text)
        if found:
            report_found(ctx, (*base, "src", j), found)
        if sel is not None:
            sources.append(((*base, "src", j), sel))

    ip_list = as_list(entry.get("ip"))
    app = as_map(entry.get("app"))
    if not ip_list and not app:
        ctx.report(base, "ip and app can not both be empty", "grant-empty")

    has_self = False
    has_internet = False
    for j, text in string_items(entry.get("dst")):
        dst = dsts(text)
        if dst.found:
            report_found(ctx, (*base, "dst", j), dst.found)
        has_self = has_self or dst.is_self
        has_internet = has_internet or dst.is_internet

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
        except SelectorSyntaxError:
            sel = None
        if sel is None or sel.kind is not Kind.TAG:
            ctx.report(path, "via can only be a tag", "via")
        elif sel.value not in ctx.tags:
            hint = did_you_mean_name(sel.value, ctx.tags)
            ctx.report(path, f'tag "{sel.value}" not found{hint}', "not-found")

    if has_self:
        check_self_sources(ctx, sources, wildcard_ok=False)
    check_src_posture(ctx, base, entry)


def _has_acl_style_port(ctx: Context, text: str) -> bool:
    """Whether a grant dst is written ACL-style (`tag:web:443`, `db1:22`, `*:*`): the whole
    is no valid, defined selector, but it splits into one plus a port list."""
    try:
        whole = parse_selector(text)
    except SelectorSyntaxError:
        whole = None
    if whole is not None and undefined(ctx, whole) is None:
        return False
    host, ports = split_acl_dst(text)
    if not ports:
        return False
    try:
        parse_ports(ports)
        parse_selector(host)
    except (PortError, SelectorSyntaxError):
        return False
    return True


def _check_cap_name(ctx: Context, path: PathKey, name: str) -> None:
    domain, slash, rest = name.partition("/")
    if "://" in name or not slash or not domain or not rest:
        ctx.report(path, "capability name must have the form {domain}/{path}", "app", key=True)
    elif domain == "tailscale.com" and name not in ALLOWED_TAILSCALE_CAPS:
        ctx.report(path, "capability name must not be in the tailscale.com domain", "app", key=True)
