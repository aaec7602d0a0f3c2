"""`acls` entries: action, src and dst selectors, dst ports, proto, srcPosture.

Policy model layer (imports `policy.context`, `policy.ports`, `policy.selectors`,
`policy.rule_sides`). Wording per policy-semantics.md 1.3, 2.5 and 2.9: ACLs, unlike
grants, accept `*` as a src with an autogroup:self dst (capture acl-a04).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.policy.context import Context, as_list
from reconciler.policy.ports import (
    PortError,
    ProtoError,
    check_ports_for_proto,
    parse_ports,
    parse_proto,
    split_acl_dst,
)
from reconciler.policy.rule_sides import (
    check_dst_selector,
    check_legacy_pair,
    check_self_sources,
    check_src,
    check_src_posture,
    entry_field,
    parse_or_report,
    string_items,
)
from reconciler.policy.selectors import AUTOGROUP_SELF, Kind, Selector
from reconciler.source import PathKey


def check_acls(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("acls"))):
        if isinstance(entry, Mapping):
            _check_acl(ctx, ("acls", i), entry)


def _check_acl(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    check_legacy_pair(ctx, base, entry, "src", "users")
    check_legacy_pair(ctx, base, entry, "dst", "ports")
    action = entry.get("action")
    action_text = action.strip() if isinstance(action, str) else ""
    if action_text != "accept":
        ctx.report((*base, "action"), f'action="{action_text}" is not supported', "action")

    proto: int | None = None
    proto_value = entry.get("proto")
    if isinstance(proto_value, str):
        try:
            proto = parse_proto(proto_value)
        except ProtoError as e:
            ctx.report((*base, "proto"), str(e), "proto")

    src_key, src_value = entry_field(entry, "src", "users")
    sources: list[tuple[PathKey, Selector]] = []
    for j, text in string_items(src_value):
        path = (*base, src_key, j)
        sel = parse_or_report(ctx, path, text, "src=")
        if sel is not None:
            check_src(ctx, path, sel)
            sources.append((path, sel))

    dst_key, dst_value = entry_field(entry, "dst", "ports")
    has_self = False
    for j, text in string_items(dst_value):
        path = (*base, dst_key, j)
        written = text.strip()
        host, ports_text = split_acl_dst(written)
        if ports_text == "" and ":" not in written:
            ctx.report(
                path,
                f'dst="{written}": missing port; write "{written}:*" for all ports',
                "ports",
            )
            continue
        try:
            ports = parse_ports(ports_text)
        except PortError as e:
            ctx.report(path, f'dst="{written}": {e}', "ports")
            continue
        try:
            check_ports_for_proto(proto, ports, str(proto_value).strip())
        except ProtoError as e:
            ctx.report(path, str(e), "proto")
        sel = parse_or_report(ctx, path, host, "dst=")
        if sel is None:
            continue
        if sel.kind is Kind.AUTOGROUP and sel.value == AUTOGROUP_SELF:
            has_self = True
        check_dst_selector(ctx, path, sel, host)

    if has_self:
        # ACLs (unlike grants) accept "*" with autogroup:self: it narrows per node (acl-a04).
        check_self_sources(ctx, sources, wildcard_ok=True)
    check_src_posture(ctx, base, entry)
