"""Tailscale SSH rules: who may open an SSH session to which device as which local user.

engine/ (imports `addrset`, `resolve`, `posture`, `reconciler.core.inventory`). Semantics
are policy-semantics.md §1.5 and §2.6/2.8: the `ssh` section is evaluated on its own
(network rules neither grant nor block SSH here); `users` entries match a literal name,
`autogroup:nonroot` (anything but root) or `localpart:*@domain` (the local part of the
source user's login in that domain); autogroup:self matches the source user's own
untagged devices. A rule matching with action `check` makes the session a check session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.errors import SelectorError, SSHRuleError
from reconciler.core.inventory import Device
from reconciler.engine.addrset import EMPTY, AddrSet
from reconciler.engine.posture import Postures
from reconciler.engine.resolve import Resolver, device_addrs


@dataclass(frozen=True)
class SSHRule:
    index: int
    action: str  # "accept" | "check"
    src: AddrSet
    dst: AddrSet
    dst_self: bool
    users: tuple[str, ...]
    posture: tuple[str, ...] | None


def _strs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def compile_ssh(policy: Mapping[str, Any], resolver: Resolver) -> list[SSHRule]:
    default = tuple(_strs(policy.get("defaultSrcPosture"))) or None
    rules: list[SSHRule] = []
    for i, rule in enumerate(policy.get("ssh") or []):
        if not isinstance(rule, Mapping):
            raise SSHRuleError(f"ssh[{i}]: an ssh rule must be an object")
        try:
            src = EMPTY
            for s in _strs(rule.get("src")):
                src = src | resolver.src(s).addrs
            dst = EMPTY
            dst_self = False
            for s in _strs(rule.get("dst")):
                target = resolver.dst(s)
                dst_self = dst_self or target.self_
                dst = dst | target.addrs
        except SelectorError as e:
            raise SSHRuleError(f"ssh[{i}]: {e.summary}") from e
        posture = tuple(_strs(rule.get("srcPosture"))) or default
        rules.append(SSHRule(i, str(rule.get("action", "")).strip(), src, dst, dst_self,
                             tuple(u.strip() for u in _strs(rule.get("users"))), posture))
    return rules


def user_matches(pattern: str, local_user: str, src_device: Device | None) -> bool:
    if pattern == "autogroup:nonroot":
        return local_user != "root"
    if pattern.startswith("localpart:*@"):
        if src_device is None or src_device.tags or not src_device.user:
            return False
        login_local, _, domain = src_device.user.partition("@")
        return domain.lower() == pattern[len("localpart:*@"):].lower() and login_local == local_user
    return pattern == local_user


def ssh_actions(rules: list[SSHRule], postures: Postures, src: Device | None,
                src_addrs: AddrSet, attrs: Mapping[str, Any] | None, dst: Device,
                local_user: str) -> set[str]:
    """The actions ("accept", "check") of every rule letting `src` in to `dst` as the user."""
    dst_addrs = device_addrs([dst])
    found: set[str] = set()
    for rule in rules:
        if not rule.src.overlaps(src_addrs):
            continue
        on_dst = rule.dst.overlaps(dst_addrs)
        if not on_dst and rule.dst_self:
            on_dst = (src is not None and not src.tags and not dst.tags and src.user is not None
                      and (dst.user or "").lower() == src.user.lower())
        if not on_dst:
            continue
        if not any(user_matches(u, local_user, src) for u in rule.users):
            continue
        if rule.posture is not None and attrs is not None and not postures.satisfied(
            rule.posture, attrs
        ):
            continue
        found.add(rule.action)
    return found
