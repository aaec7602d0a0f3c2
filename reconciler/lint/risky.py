"""Lint: risky grants of access that are legal but rarely intended.

lint/ (imports `reconciler.validate` parsers, `reconciler.core.source` and the shared
rule `reconciler.engine.risk`). Allow-all rules (and a policy with no rules at all, which
Tailscale reads as allow-all), autogroup:danger-all, tag owners so broad that anyone can
make a device look like a server, and SSH as root without re-authentication. The first
two are `reconciler.engine.risk`'s rule at the scale of the whole policy (everyone, every
address, every port), with its selectors; `risky-access` judges each rule with the same
rule (and the same sensitive tags) as the plan's diagram and the report.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconciler.core.source import Location, SourceMap
from reconciler.engine.risk import DANGER_ALL, Risk, assess, home_domains, worst
from reconciler.lint.findings import Finding
from reconciler.lint.references import strings
from reconciler.validate.ports import split_acl_dst

BROAD_OWNERS = ("autogroup:member", "autogroup:members", "autogroup:tagged",
                "autogroup:shared", "autogroup:danger-all", "*")


def _first_location(sources: SourceMap) -> Location | None:
    locs = sorted(sources.values())
    return Location(locs[0].file, 1, 1) if locs else None


def check_risky(policy: Mapping[str, Any], sources: SourceMap, *,
                big_group_members: int) -> list[Finding]:
    findings: list[Finding] = []
    if "acls" not in policy and "grants" not in policy:
        findings.append(Finding(
            "allow-all", "warning",
            "the policy has neither acls nor grants, which Tailscale reads as allow-all: "
            "every device may reach every device on every port",
            _first_location(sources), 'add grants (write "grants: []" to deny everything)'))
    for section, dst_key in (("acls", "dst"), ("grants", "dst")):
        for i, rule in enumerate(policy.get(section) or []):
            if not isinstance(rule, Mapping):
                continue
            src = [s.strip() for _, s in strings(rule.get("src", rule.get("users")))]
            dsts = [s.strip() for _, s in strings(rule.get(dst_key, rule.get("ports")))]
            hosts = [split_acl_dst(d)[0].strip() if section == "acls" else d for d in dsts]
            if "*" in src and "*" in hosts:
                findings.append(Finding(
                    "allow-all", "warning",
                    f'{section}[{i}] lets every device ("*") reach every address ("*")',
                    sources.at((section, i)),
                    "name the sources and destinations that need access"))
    for path, text in _all_strings(policy, ()):
        if text.strip() == DANGER_ALL:
            findings.append(Finding(
                "danger-all", "warning",
                "autogroup:danger-all matches every address, including ones outside the "
                "tailnet", sources.at(path), "use * (tailnet devices) or a narrower selector"))
    findings.extend(_tag_owners(policy, sources, big_group_members))
    for i, rule in enumerate(policy.get("ssh") or []):
        if not isinstance(rule, Mapping) or str(rule.get("action", "")).strip() != "accept":
            continue
        users = [u.strip() for _, u in strings(rule.get("users"))]
        if "root" in users:
            findings.append(Finding(
                "ssh-root-accept", "warning",
                f"ssh[{i}] accepts SSH as root without re-authentication",
                sources.at(("ssh", i)),
                'use action: check (with a checkPeriod) for root, or autogroup:nonroot'))
    return findings


def _accesses(section: str, rule: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(destination, protocol, ports) of one rule, as the access diff spells them."""
    if section == "acls":
        proto = str(rule.get("proto") or "").strip().lower()
        return [(d.host.strip(), proto, d.ports.strip())
                for d in (split_acl_dst(t) for _, t in strings(rule.get("dst")))]
    out = []
    for _, dst in strings(rule.get("dst")):
        for _, ip in strings(rule.get("ip")):
            proto, sep, ports = ip.strip().rpartition(":")
            out.append((dst.strip(), proto.lower() if sep else "", ports))
    return out


def check_risky_access(policy: Mapping[str, Any], sources: SourceMap,
                       sensitive: Collection[str] | None,
                       names: Mapping[Any, str] | None = None) -> list[Finding]:
    """`risky-access`: each rule that gives access hitting two or more of the risk rule's
    questions (`reconciler.engine.risk`), with the same sensitive tags as the plan."""
    groups = policy.get("groups")
    if not isinstance(groups, Mapping):
        groups = {}
    domains = home_domains(u for members in groups.values() for _, u in strings(members))
    findings: list[Finding] = []
    for section in ("acls", "grants"):
        for i, rule in enumerate(policy.get(section) or []):
            if not isinstance(rule, Mapping) or rule.get("action", "accept") != "accept":
                continue
            found: list[tuple[Risk, str, str]] = []
            for _, src in strings(rule.get("src", rule.get("users"))):
                for dst, proto, ports in _accesses(section, rule):
                    risk = assess(src.strip(), dst, proto, ports, sensitive=sensitive,
                                  domains=domains)
                    if risk.risky:
                        found.append((risk, src.strip(), dst))
            if found:
                risk = worst(r for r, _, _ in found)
                src, dst = next((s, d) for r, s, d in found if r == risk)
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                name = (names or {}).get((section, i))
                label = f'{section}[{i}]' + (f' "{name}"' if name else "")
                findings.append(Finding(
                    "risky-access", "info",
                    f"{label} gives {src} {risk.what or 'access'} on {dst}{more}: "
                    f"{', '.join(risk.reasons)}",
                    sources.at((section, i)),
                    "keep it if intended; sensitive_tags in reconciler.yaml names the "
                    "sensitive tags (README, Risky access)"))
    return findings


def _tag_owners(policy: Mapping[str, Any], sources: SourceMap,
                big: int) -> list[Finding]:
    findings: list[Finding] = []
    owners = policy.get("tagOwners")
    declared = policy.get("groups")
    groups: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
    for tag, names in (owners.items() if isinstance(owners, Mapping) else ()):
        for j, owner in strings(names):
            o = owner.strip()
            reason = None
            if o in BROAD_OWNERS or o.startswith("user:*@"):
                reason = f"{o} may apply it"
            elif o.startswith("group:") and isinstance(groups.get(o), list) \
                    and big and len(groups[o]) >= big:
                reason = f"{o} has {len(groups[o])} members (threshold {big})"
            if reason:
                findings.append(Finding(
                    "broad-tag-owner", "warning",
                    f"{tag} is owned too broadly: {reason}; any of them can make a device "
                    f"carry {tag} and get its access",
                    sources.at(("tagOwners", tag, j)),
                    "let a small admin group (or another tag) own it"))
    return findings


def _all_strings(value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    out: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k in ("tests", "sshTests") and not path:
                continue
            out.extend(_all_strings(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_all_strings(v, (*path, i)))
    return out
