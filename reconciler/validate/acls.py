"""`acls` entries: action, src and dst selectors, dst ports, proto, srcPosture.

Policy model layer (imports `policy.context`, `policy.ports`, `policy.selectors`,
`policy.rule_sides`). Wording per policy-semantics.md 1.3, 2.5 and 2.9: ACLs, unlike
grants, accept `*` as a src with an autogroup:self dst (capture acl-a04). What is wrong
with a src or dst string is worked out once per distinct string (`Memo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from reconciler.core.source import PathKey
from reconciler.validate.context import Context, Found, Memo, report_found
from reconciler.validate.ports import (
    PortError,
    PortRange,
    ProtoError,
    check_ports_for_proto,
    parse_ports,
    parse_proto,
    split_acl_dst,
)
from reconciler.validate.rule_sides import (
    SourceMemo,
    check_legacy_pair,
    check_rule_section,
    check_self_sources,
    check_src_posture,
    dst_selector_problems,
    entry_field,
    string_items,
)
from reconciler.validate.selectors import (
    AUTOGROUP_SELF,
    Kind,
    Selector,
    SelectorSyntaxError,
    parse_selector,
)


class _Dst(NamedTuple):
    """What one acl dst string says, apart from the rule's proto."""

    # A missing port or a bad port list: reported alone, the dst is checked no further.
    stop: Found
    ports: tuple[PortRange, ...]
    # The host selector's problems, reported after the proto check of `ports`.
    host: Found
    is_self: bool


def _dst(ctx: Context, text: str) -> _Dst:
    written = text.strip()
    host, ports_text = split_acl_dst(written)
    if ports_text == "" and ":" not in written:
        message = f'dst="{written}": missing port; write "{written}:*" for all ports'
        return _Dst(((message, "ports"),), (), (), False)
    try:
        ports = parse_ports(ports_text)
    except PortError as e:
        return _Dst(((f'dst="{written}": {e}', "ports"),), (), (), False)
    try:
        sel = parse_selector(host)
    except SelectorSyntaxError as e:
        return _Dst((), ports, ((f"dst={e}", "selector"),), False)
    is_self = sel.kind is Kind.AUTOGROUP and sel.value == AUTOGROUP_SELF
    return _Dst((), ports, dst_selector_problems(ctx, sel, host), is_self)


def check_acls(ctx: Context) -> None:
    check_rule_section(ctx, "acls", _dst, _check_acl)


def _check_acl(
    ctx: Context,
    srcs: SourceMemo,
    dsts: Memo[_Dst],
    base: PathKey,
    entry: Mapping[str, Any],
) -> None:
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
        sel, found = srcs(text)
        if found:
            report_found(ctx, (*base, src_key, j), found)
        if sel is not None:
            sources.append(((*base, src_key, j), sel))

    dst_key, dst_value = entry_field(entry, "dst", "ports")
    has_self = False
    for j, text in string_items(dst_value):
        dst = dsts(text)
        if dst.stop:
            report_found(ctx, (*base, dst_key, j), dst.stop)
            continue
        try:
            check_ports_for_proto(proto, dst.ports, str(proto_value).strip())
        except ProtoError as e:
            ctx.report((*base, dst_key, j), str(e), "proto")
        if dst.host:
            report_found(ctx, (*base, dst_key, j), dst.host)
        has_self = has_self or dst.is_self

    if has_self:
        # ACLs (unlike grants) accept "*" with autogroup:self: it narrows per node (acl-a04).
        check_self_sources(ctx, sources, wildcard_ok=True)
    check_src_posture(ctx, base, entry)
