"""Per-backend dialect: what a Headscale target refuses that Tailscale accepts.

Policy model layer (imports `problems`, `source`). `validate_policy` checks Tailscale's
rules; a document for a Headscale target must also pass these, which Headscale v0.29.2
itself refuses with the words used here (checked against the server in
tests/headscale_real): sections and rule fields it does not parse, `ipset:` aliases,
autogroups it has no notion of in ACL sources and destinations, test protocols other
than tcp/udp/sctp. Tailscale targets never run this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.problems import Problem
from reconciler.core.source import PathKey, SourceMap

HEADSCALE = "headscale"

# Headscale's `type Policy` (hscontrol/policy/v2/types.go); names match case-insensitively.
HEADSCALE_SECTIONS = frozenset(s.lower() for s in (
    "groups", "hosts", "tagOwners", "acls", "grants", "nodeAttrs", "autoApprovers", "ssh",
    "tests", "sshTests", "randomizeClientPort"))
# Rule fields Tailscale has and Headscale's ACL and Grant types do not.
UNPARSED_RULE_FIELDS = ("srcPosture",)
ACL_SRC_AUTOGROUPS = ("autogroup:member", "autogroup:tagged", "autogroup:danger-all")
ACL_DST_AUTOGROUPS = ("autogroup:internet", "autogroup:member", "autogroup:tagged",
                      "autogroup:self")
TEST_PROTOCOLS = ("", "tcp", "udp", "sctp")


def headscale_problems(policy: Mapping[str, Any], sources: SourceMap | None = None
                       ) -> list[Problem]:
    """Every construct of `policy` that Headscale refuses, where it was written."""
    out: list[Problem] = []

    def add(message: str, path: PathKey) -> None:
        where = sources.at(path) if sources is not None else None
        out.append(Problem(f"{message} (Headscale does not support it)", where,
                           code="headscale"))

    for key in policy:
        if str(key).lower() not in HEADSCALE_SECTIONS:
            add(f'unknown field: "{key}"', (key,))
    for section in ("acls", "grants"):
        for i, rule in _entries(policy, section):
            for name in UNPARSED_RULE_FIELDS:
                if name in rule:
                    add(f'unknown field: "{name}"', (section, i, name))
            for side in ("src", "dst"):
                for j, alias in _strings(rule.get(side)):
                    _check_alias(add, section, side, alias, (section, i, side, j))
    for i, test in _entries(policy, "tests"):
        proto = test.get("proto", "")
        if isinstance(proto, str) and proto.strip().lower() not in TEST_PROTOCOLS:
            add(f'test protocol must be tcp, udp, sctp, or empty: "{proto}"',
                ("tests", i, "proto"))
    return out


def _check_alias(add: Any, section: str, side: str, alias: str, path: PathKey) -> None:
    name = alias.strip()
    if section == "acls" and side == "dst":
        name = name.rsplit(":", 1)[0] if name.count(":") >= 2 else name
    if name.startswith("ipset:"):
        add(f'invalid alias format: "{name}"', path)
    elif section == "acls" and name.startswith("autogroup:"):
        allowed = ACL_SRC_AUTOGROUPS if side == "src" else ACL_DST_AUTOGROUPS
        if name not in allowed:
            where = "sources" if side == "src" else "destinations"
            add(f'autogroup not supported for ACL {where}: "{name}", can be '
                f"[{' '.join(allowed)}]", path)


def _entries(policy: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = policy.get(section)
    if not isinstance(value, list):
        return []
    return [(i, e) for i, e in enumerate(value) if isinstance(e, Mapping)]


def _strings(value: Any) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
