"""Definition sections: groups, tagOwners, hosts, postures, defaultSrcPosture and
autoApprovers; `check_sections` also runs `ipsets`, `node_attrs` and `settings`.

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.references`,
`policy.postures`, `policy.ipsets`, `policy.node_attrs`, `policy.settings`). Shapes and
types were checked by `shapes`; this module checks names, values and references, with
Tailscale's wording where it has one (policy-semantics.md 1.2, 1.6, 1.8, 2.9).
"""

from __future__ import annotations

import re

from reconciler.core.source import PathKey
from reconciler.validate.context import (
    Context,
    as_list,
    as_map,
    check_prefix,
    section_entries,
    section_key,
)
from reconciler.validate.ipsets import check_ipsets
from reconciler.validate.node_attrs import check_node_attrs
from reconciler.validate.postures import PostureSyntaxError, parse_condition
from reconciler.validate.references import undefined, undefined_posture
from reconciler.validate.selectors import (
    AUTOGROUP_TAGGED,
    ROLE_AUTOGROUPS,
    Kind,
    Selector,
    SelectorSyntaxError,
    is_valid_host_name,
    parse_ip,
    parse_network,
    parse_selector,
)
from reconciler.validate.settings import check_derp_map, check_settings

_TAG_NAME_START = re.compile(r"[A-Za-z]")

# --------------------------------------------------------------------------- groups


def check_groups(ctx: Context) -> None:
    for name, members in section_entries(ctx, "groups"):
        check_prefix(ctx, "groups", name, "group:")
        for j, member in enumerate(as_list(members)):
            if not isinstance(member, str):
                continue
            path = ("groups", name, j)
            m = member.strip()
            if m.startswith("group:"):
                ctx.report(
                    path,
                    f'{section_key("groups", name)}: "{m}": group members cannot be recursive',
                    "group-recursive",
                )
            elif "@" not in m or m.startswith(("tag:", "autogroup:")):
                ctx.report(
                    path,
                    f'{section_key("groups", name)}: "{m}": group members must be user logins '
                    "(user@example.com, user@github, user@passkey)",
                    "group-member",
                )


# ------------------------------------------------------------------------ tagOwners

_OWNER_AUTOGROUPS = ROLE_AUTOGROUPS | {AUTOGROUP_TAGGED}


def check_tag_owners(ctx: Context) -> None:
    for name, owners in section_entries(ctx, "tagOwners"):
        if check_prefix(ctx, "tagOwners", name, "tag:") and not _TAG_NAME_START.match(
            name[len("tag:") :]
        ):
            ctx.report(
                ("tagOwners", name),
                f"{section_key('tagOwners', name)}: "
                "tag names must start with a letter, after 'tag:'",
                "tag-name",
                key=True,
            )
        for j, owner in enumerate(as_list(owners)):
            if isinstance(owner, str):
                _check_owner(ctx, ("tagOwners", name, j), section_key("tagOwners", name), owner)


def _check_owner(ctx: Context, path: PathKey, where: str, text: str) -> None:
    """A tag owner or an auto-approver: user, group, tag or a role autogroup."""
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError as e:
        ctx.report(path, f"{where}: {e}", "selector")
        return
    allowed = sel.kind in (Kind.USER, Kind.GROUP, Kind.TAG, Kind.DOMAIN) or (
        sel.kind is Kind.AUTOGROUP and sel.value in _OWNER_AUTOGROUPS
    )
    if not allowed:
        ctx.report(
            path,
            f'{where}: "{sel.text}": must be a user, group, tag or role autogroup',
            "owner",
        )
        return
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, f"{where}: {reason}", "not-found")


# ---------------------------------------------------------------------------- hosts


def check_hosts(ctx: Context) -> None:
    for name, value in section_entries(ctx, "hosts"):
        where = section_key("hosts", name)
        if not is_valid_host_name(name.strip()):
            ctx.report(
                ("hosts", name),
                f"{where}: host names may hold letters, digits, '.', '-' and '_', "
                "and must not be an IP or contain '@' or a prefix such as 'tag:'",
                "host-name",
                key=True,
            )
        if isinstance(value, str):
            v = value.strip()
            if parse_ip(v) is None and parse_network(v) is None:
                ctx.report(("hosts", name), f'{where}: "{v}": invalid IP address or CIDR', "host")


# ------------------------------------------------------------------------- postures


def check_postures(ctx: Context) -> None:
    for name, conditions in section_entries(ctx, "postures"):
        check_prefix(ctx, "postures", name, "posture:")
        for j, condition in enumerate(as_list(conditions)):
            if not isinstance(condition, str):
                continue
            try:
                parse_condition(condition)
            except PostureSyntaxError as e:
                ctx.report(
                    ("postures", name, j),
                    f'{section_key("postures", name)}: "{condition.strip()}": {e}',
                    "posture",
                )
    for j, name in enumerate(as_list(ctx.policy.get("defaultSrcPosture"))):
        if isinstance(name, str):
            reason = undefined_posture(ctx, name)
            if reason is not None:
                ctx.report(("defaultSrcPosture", j), f"defaultSrcPosture: {reason}", "not-found")


# -------------------------------------------------------------------- autoApprovers


def check_auto_approvers(ctx: Context) -> None:
    approvers = as_map(ctx.policy.get("autoApprovers"))
    for route, owners in as_map(approvers.get("routes")).items():
        if not isinstance(route, str):
            continue
        path: PathKey = ("autoApprovers", "routes", route)
        where = f'autoApprovers.routes["{route}"]'
        if parse_network(route.strip()) is None:
            ctx.report(path, f"{where}: invalid route, expected a CIDR", "route", key=True)
        for j, owner in enumerate(as_list(owners)):
            if isinstance(owner, str):
                _check_owner(ctx, (*path, j), where, owner)
    for j, owner in enumerate(as_list(approvers.get("exitNode"))):
        if isinstance(owner, str):
            _check_owner(ctx, ("autoApprovers", "exitNode", j), "autoApprovers.exitNode", owner)
    for service, owners in as_map(approvers.get("services")).items():
        if not isinstance(service, str):
            continue
        path = ("autoApprovers", "services", service)
        where = f'autoApprovers.services["{service}"]'
        _check_service_key(ctx, path, where, service.strip())
        for j, owner in enumerate(as_list(owners)):
            if isinstance(owner, str):
                _check_owner(ctx, (*path, j), where, owner)


def _check_service_key(ctx: Context, path: PathKey, where: str, key: str) -> None:
    """A service (`svc:web`) or a tag (`tag:web`: every service carrying it), as
    Tailscale's Services documentation writes them. Headscale has no Services and
    refuses the whole `services` key (its dialect, not this one, says so)."""
    if key.startswith("svc:") and len(key) > len("svc:"):
        return
    if key.startswith("tag:"):
        reason = undefined(ctx, Selector(Kind.TAG, key, key))
        if reason is not None:
            ctx.report(path, f"{where}: {reason}", "not-found", key=True)
        return
    ctx.report(path, f"{where}: names must start with 'svc:' (a service) or 'tag:' "
               "(the services carrying that tag)", "name", key=True)


def check_sections(ctx: Context) -> None:
    check_groups(ctx)
    check_tag_owners(ctx)
    check_hosts(ctx)
    check_ipsets(ctx)
    check_postures(ctx)
    check_auto_approvers(ctx)
    check_node_attrs(ctx)
    check_derp_map(ctx)
    check_settings(ctx)
