"""Whether the tag, group, host, ipset or posture a selector names is defined.

Policy model layer (imports `policy.context`, `policy.selectors`). Returns the bare
reason (``tag not found: "tag:x"``); each caller adds the prefix Tailscale uses where
the reference was written (``src=``, ``dst="tag:x": ``, none for nodeAttrs), and
the nearest defined name when one is close (`suggest.did_you_mean_name`) after it, so
the SaaS wording stays a prefix of ours.
"""

from __future__ import annotations

from reconciler.core.suggest import did_you_mean_name
from reconciler.validate.context import Context
from reconciler.validate.selectors import KNOWN_AUTOGROUPS, Kind, Selector


def undefined(ctx: Context, sel: Selector) -> str | None:
    """The 'not found' reason for a selector naming something the policy lacks."""
    if sel.kind is Kind.TAG:
        if sel.value in ctx.tags:
            return None
        return f'tag not found: "{sel.value}"{_nearest(ctx, sel.value)}'
    if sel.kind is Kind.GROUP:
        # SCIM-synced groups (group:name@domain) are defined outside the policy file.
        if "@" in sel.value or sel.value in ctx.groups:
            return None
        return f'group not found: "{sel.value}"{_nearest(ctx, sel.value)}'
    if sel.kind is Kind.HOST:
        if sel.value in ctx.hosts:
            return None
        return f'host not found: "{sel.value}"{_nearest(ctx, sel.value)}'
    if sel.kind is Kind.IPSET:
        if sel.value in ctx.ipsets:
            return None
        return f'ipset not found: "{sel.value}"{_nearest(ctx, sel.value)}'
    if sel.kind is Kind.AUTOGROUP and sel.value not in KNOWN_AUTOGROUPS:
        return f'unknown autogroup: "{sel.value}"{did_you_mean_name(sel.value, KNOWN_AUTOGROUPS)}'
    return None


def _nearest(ctx: Context, name: str) -> str:
    """The did-you-mean suffix among every tag, group, host and ipset the policy
    defines: a name of the same kind first, then one of another kind (`web` for
    `tag:web`)."""
    return did_you_mean_name(name, ctx.defined_names)


def undefined_posture(ctx: Context, name: str) -> str | None:
    name = name.strip()
    if not name.startswith("posture:"):
        return f"\"{name}\": posture names must start with 'posture:'"
    if name in ctx.postures:
        return None
    return f'posture not found: "{name}"{did_you_mean_name(name, ctx.postures)}'
