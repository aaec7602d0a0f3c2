"""Whether the tag, group, host, ipset or posture a selector names is defined.

Policy model layer (imports `policy.context`, `policy.selectors`). Returns the bare
reason (``tag not found: "tag:x"``); each caller adds the prefix Tailscale uses where
the reference was written (``src=``, ``dst="tag:x": ``, none for nodeAttrs).
"""

from __future__ import annotations

from reconciler.policy.context import Context
from reconciler.policy.selectors import KNOWN_AUTOGROUPS, Kind, Selector


def undefined(ctx: Context, sel: Selector) -> str | None:
    """The 'not found' reason for a selector naming something the policy lacks."""
    if sel.kind is Kind.TAG:
        return None if sel.value in ctx.tags else f'tag not found: "{sel.value}"'
    if sel.kind is Kind.GROUP:
        # SCIM-synced groups (group:name@domain) are defined outside the policy file.
        if "@" in sel.value or sel.value in ctx.groups:
            return None
        return f'group not found: "{sel.value}"'
    if sel.kind is Kind.HOST:
        return None if sel.value in ctx.hosts else f'host not found: "{sel.value}"'
    if sel.kind is Kind.IPSET:
        return None if sel.value in ctx.ipsets else f'ipset not found: "{sel.value}"'
    if sel.kind is Kind.AUTOGROUP and sel.value not in KNOWN_AUTOGROUPS:
        return f'unknown autogroup: "{sel.value}"'
    return None


def undefined_posture(ctx: Context, name: str) -> str | None:
    name = name.strip()
    if not name.startswith("posture:"):
        return f"\"{name}\": posture names must start with 'posture:'"
    return None if name in ctx.postures else f'posture not found: "{name}"'
