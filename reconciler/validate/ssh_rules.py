"""`ssh` entries: action, src and dst rules, users, checkPeriod, acceptEnv, srcPosture,
recorder.

Policy model layer (imports `policy.context`, `policy.durations`, `policy.references`,
`policy.selectors`, `policy.rule_sides`). Wording per policy-semantics.md 1.5 and the
ssh captures (``"Accept" is not a valid action``, ``users must be specified``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.problems import Severity
from reconciler.core.source import PathKey
from reconciler.validate.context import Context, as_list, domain_message
from reconciler.validate.durations import HOUR, DurationError, format_duration, parse_duration
from reconciler.validate.references import undefined
from reconciler.validate.rule_sides import (
    SELF_SOURCE_MESSAGE,
    check_src_posture,
    parse_or_report,
    string_items,
)
from reconciler.validate.selectors import (
    AUTOGROUP_MEMBER,
    AUTOGROUP_MEMBERS,
    AUTOGROUP_SELF,
    AUTOGROUP_TAGGED,
    ROLE_AUTOGROUPS,
    Kind,
    Selector,
    SelectorSyntaxError,
    parse_selector,
)

SSH_CHECK_PERIOD_MAX = 168 * HOUR


def check_ssh(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("ssh"))):
        if isinstance(entry, Mapping):
            _check_ssh_rule(ctx, ("ssh", i), entry)


# autogroup:members, the legacy spelling of autogroup:member, is accepted wherever
# autogroup:member is (DOC-POLICY §Autogroups; real policies use it as an ssh src).
# Headscale does not know the legacy spelling: its dialect refuses it, not this one.
_SSH_SRC_AUTOGROUPS = ROLE_AUTOGROUPS | {AUTOGROUP_TAGGED, AUTOGROUP_MEMBERS}
_SSH_DST_AUTOGROUPS = frozenset(
    {AUTOGROUP_SELF, AUTOGROUP_MEMBER, AUTOGROUP_MEMBERS, AUTOGROUP_TAGGED}
)


def _check_ssh_rule(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    action = entry.get("action")
    action_text = action.strip() if isinstance(action, str) else ""
    if action_text == "":
        ctx.report((*base, "action"), "action must be specified", "action")
    elif action_text not in ("accept", "check"):
        ctx.report((*base, "action"), f'"{action_text}" is not a valid action', "action")

    sources = _check_ssh_sources(ctx, base, entry)
    _check_ssh_destinations(ctx, base, entry, sources)
    _check_ssh_users(ctx, base, entry)

    period = entry.get("checkPeriod")
    if isinstance(period, str):
        _check_period(ctx, (*base, "checkPeriod"), period.strip(), action_text)
    for j, env in string_items(entry.get("acceptEnv")):
        if env.strip() == "":
            ctx.report((*base, "acceptEnv", j), "acceptEnv values cannot be empty", "acceptEnv")
    check_src_posture(ctx, base, entry)
    _check_recorders(ctx, base, entry)


def _check_recorders(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    """`recorder` names the tags of session recorder nodes (DOC-SSH session recording).

    Warnings, not errors: no capture shows what SaaS refuses here, and refusing a policy
    Tailscale accepts is worse than letting through one no recorder can serve (with
    `enforceRecorder`, such a rule lets no session in)."""
    for j, text in string_items(entry.get("recorder")):
        path = (*base, "recorder", j)
        try:
            sel = parse_selector(text)
        except SelectorSyntaxError:
            sel = None
        if sel is None or sel.kind is not Kind.TAG:
            ctx.report(path, f'recorder "{text.strip()}": a recorder is named by its tag',
                       "recorder", severity=Severity.WARNING)
            continue
        reason = undefined(ctx, sel)
        if reason is not None:
            ctx.report(path, f"recorder: {reason}", "not-found", severity=Severity.WARNING)


def _check_ssh_sources(
    ctx: Context, base: PathKey, entry: Mapping[str, Any]
) -> list[tuple[PathKey, Selector]]:
    sources: list[tuple[PathKey, Selector]] = []
    for j, text in string_items(entry.get("src")):
        path = (*base, "src", j)
        sel = parse_or_report(ctx, path, text, "src=")
        if sel is None:
            continue
        allowed = sel.kind in (Kind.USER, Kind.GROUP, Kind.TAG, Kind.DOMAIN) or (
            sel.kind is Kind.AUTOGROUP and sel.value in _SSH_SRC_AUTOGROUPS
        )
        if not allowed:
            ctx.report(
                path,
                f'src="{sel.text}": not valid as an ssh src; use users, groups, tags, '
                "autogroup:member, autogroup:tagged or user:*@<domain>",
                "ssh-src",
            )
            continue
        reason = undefined(ctx, sel)
        if reason is not None:
            ctx.report(path, f"src={reason}", "not-found")
            continue
        domain = ctx.domain_problem(sel, prefix="[ssh] ")
        if domain is not None:
            ctx.report(path, domain, "domain")
        sources.append((path, sel))
    return sources


def _check_ssh_destinations(
    ctx: Context,
    base: PathKey,
    entry: Mapping[str, Any],
    sources: list[tuple[PathKey, Selector]],
) -> None:
    tagged_src = any(
        s.kind is Kind.TAG or (s.kind is Kind.AUTOGROUP and s.value == AUTOGROUP_TAGGED)
        for _, s in sources
    )
    src_users = {s.value for _, s in sources if s.kind is Kind.USER}
    only_users = all(s.kind is Kind.USER for _, s in sources)
    for j, text in string_items(entry.get("dst")):
        path = (*base, "dst", j)
        sel = parse_or_report(ctx, path, text, "dst=")
        if sel is None:
            continue
        if sel.kind is Kind.TAG:
            reason = undefined(ctx, sel)
            if reason is not None:
                ctx.report(path, f'dst="{sel.text}": {reason}', "not-found")
        elif sel.kind is Kind.AUTOGROUP and sel.value in _SSH_DST_AUTOGROUPS:
            if tagged_src and sel.value in (AUTOGROUP_SELF, AUTOGROUP_MEMBER, AUTOGROUP_MEMBERS):
                message = (
                    SELF_SOURCE_MESSAGE
                    if sel.value == AUTOGROUP_SELF
                    else "tags in an ssh src cannot reach autogroup:member (user-owned devices)"
                )
                ctx.report(path, message, "autogroup-self")
        elif sel.kind is Kind.USER:
            if tagged_src:
                ctx.report(
                    path,
                    f'dst="{sel.text}": tags in an ssh src cannot reach user-owned devices; '
                    "use tags or autogroup:tagged as dst",
                    "ssh-dst",
                )
            elif not (only_users and src_users == {sel.value}):
                ctx.report(
                    path,
                    f'dst="{sel.text}": a user dst needs that same user as the only src; '
                    "use autogroup:self for same-user access",
                    "ssh-dst",
                )
        else:
            ctx.report(path, f'invalid dst "{sel.text}"', "ssh-dst")


def _check_ssh_users(ctx: Context, base: PathKey, entry: Mapping[str, Any]) -> None:
    users = as_list(entry.get("users"))
    if not users:
        ctx.report((*base, "users"), "users must be specified", "ssh-users")
        return
    for j, user in string_items(users):
        name = user.strip()
        path = (*base, "users", j)
        if name in ("", "*"):
            ctx.report(path, f'user "{name}" is not valid', "ssh-users")
        elif name.startswith("localpart:*@") and ctx.tailnet_domains is not None:
            message = domain_message(name[len("localpart:*@") :], ctx.tailnet_domains)
            if message is not None:
                ctx.report(path, message, "domain")


def _check_period(ctx: Context, path: PathKey, text: str, action: str) -> None:
    if text == "always":
        return
    try:
        ns = parse_duration(text)
    except DurationError as e:
        ctx.report(path, str(e), "checkPeriod")
        return
    if ns < 0:
        ctx.report(
            path, f"checkPeriod {format_duration(ns)} must be a positive duration", "checkPeriod"
        )
    elif ns > SSH_CHECK_PERIOD_MAX:
        ctx.report(
            path, f"checkPeriod {format_duration(ns)} is above the max (168h)", "checkPeriod"
        )
    if action == "accept":
        ctx.report(
            path,
            'checkPeriod has no effect on an "accept" rule; it applies to "check" rules',
            "checkPeriod",
            severity=Severity.WARNING,
        )
