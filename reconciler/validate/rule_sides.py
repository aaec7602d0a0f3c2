"""Checks shared by the access rules (acls, grants, ssh): one src or dst selector.

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.references`).
`acls`, `grants` and `ssh_rules` call these with the prefix Tailscale puts in front of
each message (``src=tag not found: "tag:x"``, ``dst="tag:x": tag not found: ...``).
The per-string checks return their problems instead of reporting them, so that `acls`
and `grants` can memoise them per distinct string and report them at each use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reconciler.core.source import PathKey
from reconciler.validate.context import Context, Found, Memo, as_list
from reconciler.validate.references import undefined, undefined_posture
from reconciler.validate.selectors import (
    AUTOGROUP_DANGER_ALL,
    AUTOGROUP_INTERNET,
    AUTOGROUP_SELF,
    AUTOGROUP_SHARED,
    ROLE_AUTOGROUPS,
    Kind,
    Selector,
    SelectorSyntaxError,
    parse_selector,
)

SELF_SOURCE_MESSAGE = "autogroup:self can only be used with users, groups, or supported autogroups"


def entry_field(entry: Mapping[str, Any], name: str, legacy: str | None = None) -> tuple[str, Any]:
    """The key actually used (current or legacy spelling) and its value."""
    if name not in entry and legacy is not None and legacy in entry:
        return legacy, entry[legacy]
    return name, entry.get(name)


def string_items(value: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(as_list(value)) if isinstance(v, str)]


def parse_or_report(ctx: Context, path: PathKey, text: str, prefix: str) -> Selector | None:
    try:
        return parse_selector(text)
    except SelectorSyntaxError as e:
        ctx.report(path, f"{prefix}{e}", "selector")
        return None


def check_legacy_pair(
    ctx: Context, base: PathKey, entry: Mapping[str, Any], name: str, legacy: str
) -> None:
    if name in entry and legacy in entry:
        ctx.report(
            (*base, legacy),
            f'only one of "{name}" and "{legacy}" (its legacy name) may be specified',
            "legacy-field",
        )


def src_problems(ctx: Context, text: str) -> tuple[Selector | None, Found]:
    """A src string of an acl or grant: its selector (None when unparseable) and what is
    wrong with it. Depends on the text only, so callers memoise it (`Memo`)."""
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError as e:
        return None, ((f"src={e}", "selector"),)
    return sel, _src_selector_problems(ctx, sel)


def _src_selector_problems(ctx: Context, sel: Selector) -> Found:
    if sel.kind is Kind.AUTOGROUP:
        if sel.value == AUTOGROUP_SELF:
            return (('"autogroup:self" not valid on the src side of a rule', "src"),)
        if sel.value == AUTOGROUP_INTERNET:
            return (('"autogroup:internet" not valid on the src side of a rule', "src"),)
    if sel.kind is Kind.SERVICE:
        return ((f'"{sel.value}" not valid on the src side of a rule', "src"),)
    if sel.kind is Kind.IP_RANGE:
        return ((f'src="{sel.text}": IP ranges are only allowed inside ipsets', "src"),)
    reason = undefined(ctx, sel)
    if reason is not None:
        return ((f"src={reason}", "not-found"),)
    domain = ctx.domain_problem(sel)
    if domain is not None:
        return ((domain, "domain"),)
    return ()


def dst_selector_problems(ctx: Context, sel: Selector, label: str) -> Found:
    """What is wrong with a dst selector of an acl or grant; `label` is what `dst=`
    quotes."""
    if sel.kind is Kind.AUTOGROUP and sel.value in (AUTOGROUP_DANGER_ALL, AUTOGROUP_SHARED):
        if sel.value == AUTOGROUP_DANGER_ALL:
            return (("cannot use autogroup:danger-all as a dst", "dst"),)
        return ((f'dst="{label}": "{sel.value}" not valid as a dst', "dst"),)
    if sel.kind is Kind.IP_RANGE:
        return ((f'dst="{label}": IP ranges are only allowed inside ipsets', "dst"),)
    reason = undefined(ctx, sel)
    if reason is not None:
        return ((f'dst="{label}": {reason}', "not-found"),)
    domain = ctx.domain_problem(sel)
    if domain is not None:
        return ((domain, "domain"),)
    return ()


def check_src_posture(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    for j, name in string_items(entry.get("srcPosture")):
        reason = undefined_posture(ctx, name)
        if reason is not None:
            ctx.report((*base, "srcPosture", j), f"srcPosture: {reason}", "not-found")


def _self_source_ok(sel: Selector, *, wildcard_ok: bool) -> bool:
    if sel.kind in (Kind.USER, Kind.GROUP, Kind.DOMAIN):
        return True
    if sel.kind is Kind.AUTOGROUP and sel.value == "autogroup:members":  # legacy spelling
        return True
    if sel.kind is Kind.WILDCARD:
        return wildcard_ok
    return sel.kind is Kind.AUTOGROUP and sel.value in ROLE_AUTOGROUPS


def check_self_sources(
    ctx: Context, sources: list[tuple[PathKey, Selector]], *, wildcard_ok: bool
) -> None:
    for path, sel in sources:
        if not _self_source_ok(sel, wildcard_ok=wildcard_ok):
            ctx.report(path, SELF_SOURCE_MESSAGE, "autogroup-self")
            return


D = TypeVar("D")
SourceMemo = Memo[tuple[Selector | None, Found]]


def check_rule_section(
    ctx: Context,
    section: str,
    dst_check: Callable[[Context, str], D],
    check_entry: Callable[[Context, SourceMemo, Memo[D], PathKey, Mapping[str, Any]], None],
) -> None:
    """Run `check_entry` on every mapping entry of an access-rule section (acls, grants),
    with each distinct src and dst string judged once for the whole section."""
    srcs: SourceMemo = Memo(ctx, src_problems)
    dsts = Memo(ctx, dst_check)
    for i, entry in enumerate(as_list(ctx.policy.get(section))):
        if isinstance(entry, Mapping):
            check_entry(ctx, srcs, dsts, (section, i), entry)
