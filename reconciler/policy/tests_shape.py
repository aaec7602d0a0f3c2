"""Entry shapes of `tests` and `sshTests` (policy-semantics.md 2.7, 2.8).

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.ports`,
`policy.references`). SaaS answers every invalid test with the same `test(s) failed`
as a failing assertion; here each invalid entry gets a message that says what is
wrong (``tests[2]: "10.0.0.0/8:22": a test destination must be a single host, not a
CIDR``). The sshTests dst checks SaaS reports as validation errors keep its wording
(``SSH tests dst contains disallowed element "100.64.0.0/24"``). Whether the assertions
pass is the engine's job, not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.policy.context import Context, as_list
from reconciler.policy.ports import MAX_PORT, ProtoError, parse_proto, split_acl_dst
from reconciler.policy.references import undefined
from reconciler.policy.selectors import (
    AUTOGROUP_INTERNET,
    Kind,
    Selector,
    SelectorError,
    parse_network,
    parse_selector,
)
from reconciler.source import PathKey

CODE = "test-shape"


def _field(entry: Mapping[str, Any], name: str, legacy: str) -> tuple[str, Any]:
    if name not in entry and legacy in entry:
        return legacy, entry[legacy]
    return name, entry.get(name)


def _check_src(ctx: Context, path: PathKey, where: str, value: Any) -> None:
    """A test src: one user, group, tag, host or IP (not `*`, not a CIDR)."""
    if not isinstance(value, str) or value.strip() == "":
        ctx.report(path, f"{where}: src must be specified", CODE)
        return
    try:
        sel = parse_selector(value)
    except SelectorError as e:
        ctx.report(path, f"{where}: src {e}", CODE)
        return
    if sel.kind in (Kind.WILDCARD, Kind.CIDR, Kind.IP_RANGE, Kind.IPSET, Kind.SERVICE) or (
        sel.kind is Kind.AUTOGROUP and sel.value == AUTOGROUP_INTERNET
    ):
        ctx.report(
            path,
            f'{where}: src "{sel.text}" is not allowed: a test src must be a specific user, '
            "group, tag, host or IP",
            CODE,
        )
        return
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, f'{where}: src "{sel.text}": {reason}', CODE)


def _host_is_cidr(ctx: Context, sel: Selector) -> str | None:
    """The CIDR a host alias stands for, when it is not a single address."""
    value = ctx.hosts.get(sel.value)
    if isinstance(value, str) and "/" in value:
        return value.strip()
    return None


# ---------------------------------------------------------------------------- tests


def check_tests(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("tests"))):
        if isinstance(entry, Mapping):
            _check_test(ctx, ("tests", i), f"tests[{i}]", entry)


def _check_test(ctx: Context, base: PathKey, where: str, entry: Mapping[str, Any]) -> None:
    for name, legacy in (("src", "user"), ("accept", "allow")):
        if name in entry and legacy in entry:
            ctx.report(
                (*base, legacy),
                f'{where}: only one of "{name}" and "{legacy}" (its legacy name) may be specified',
                CODE,
            )
    src_key, src = _field(entry, "src", "user")
    _check_src(ctx, (*base, src_key), where, src)

    proto_value = entry.get("proto")
    if isinstance(proto_value, str):
        try:
            parse_proto(proto_value)
        except ProtoError as e:
            ctx.report((*base, "proto"), f"{where}: {e}", CODE)

    accept_key, accept = _field(entry, "accept", "allow")
    lists = [(accept_key, as_list(accept)), ("deny", as_list(entry.get("deny")))]
    if not any(items for _, items in lists):
        ctx.report(base, f'{where}: a test needs at least one "accept" or "deny" entry', CODE)
    for key, items in lists:
        for j, dst in enumerate(items):
            if isinstance(dst, str):
                _check_test_dst(ctx, (*base, key, j), where, dst.strip())


def _check_test_dst(ctx: Context, path: PathKey, where: str, text: str) -> None:
    host, port = split_acl_dst(text)
    prefix = f'{where}: "{text}"'
    if port == "" and ":" not in text:
        ctx.report(path, f"{prefix}: a test destination needs a port, e.g. {text}:22", CODE)
        return
    if port == "*" or "," in port or ("-" in port and not port.startswith("-")):
        ctx.report(path, f'{prefix}: a test destination needs a single port, not "{port}"', CODE)
    elif not port.isdigit() or int(port) > MAX_PORT:
        ctx.report(path, f'{prefix}: invalid port "{port}", expected a number 0-65535', CODE)
    if "/" in host:
        if parse_network(host) is None:
            ctx.report(path, f'{prefix}: "{host}" is not a valid address', CODE)
        else:
            ctx.report(
                path, f"{prefix}: a test destination must be a single host, not a CIDR", CODE
            )
        return
    try:
        sel = parse_selector(host)
    except SelectorError as e:
        ctx.report(path, f"{prefix}: {e}", CODE)
        return
    if sel.kind in (Kind.WILDCARD, Kind.AUTOGROUP, Kind.IP_RANGE, Kind.IPSET):
        ctx.report(
            path,
            f'{prefix}: "{sel.text}" is not a valid test destination; use a user, group, '
            "tag, host, IP or svc:",
            CODE,
        )
        return
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, f"{prefix}: {reason}", CODE)
        return
    if sel.kind is Kind.HOST:
        cidr = _host_is_cidr(ctx, sel)
        if cidr is not None:
            ctx.report(
                path,
                f'{prefix}: host "{sel.value}" is the CIDR {cidr}; a test destination must be '
                "a single host",
                CODE,
            )


# ------------------------------------------------------------------------- sshTests


def check_ssh_tests(ctx: Context) -> None:
    for i, entry in enumerate(as_list(ctx.policy.get("sshTests"))):
        if isinstance(entry, Mapping):
            _check_ssh_test(ctx, ("sshTests", i), f"sshTests[{i}]", entry)


def _check_ssh_test(ctx: Context, base: PathKey, where: str, entry: Mapping[str, Any]) -> None:
    _check_src(ctx, (*base, "src"), where, entry.get("src"))
    dsts = as_list(entry.get("dst"))
    if not dsts:
        ctx.report((*base, "dst"), f"{where}: an SSH test needs at least one dst", CODE)
    for j, dst in enumerate(dsts):
        if isinstance(dst, str):
            _check_ssh_test_dst(ctx, (*base, "dst", j), where, dst.strip())

    lists = {key: as_list(entry.get(key)) for key in ("accept", "check", "deny")}
    if not any(lists.values()):
        ctx.report(
            base, f'{where}: an SSH test needs at least one "accept", "check" or "deny" user', CODE
        )
    for key, users in lists.items():
        for j, user in enumerate(users):
            if isinstance(user, str) and user.strip() == "":
                ctx.report((*base, key, j), f'{where}: {key}: user "" is not valid', CODE)
    allowed = {u.strip() for key in ("accept", "check") for u in lists[key] if isinstance(u, str)}
    for j, user in enumerate(lists["deny"]):
        if isinstance(user, str) and user.strip() in allowed and user.strip():
            ctx.report(
                (*base, "deny", j),
                f'{where}: "{user.strip()}" is both allowed and denied; the test can never pass',
                CODE,
            )


def _check_ssh_test_dst(ctx: Context, path: PathKey, where: str, text: str) -> None:
    try:
        sel = parse_selector(text)
    except SelectorError as e:
        ctx.report(path, f"{where}: dst {e}", CODE)
        return
    if sel.kind in (Kind.CIDR, Kind.WILDCARD, Kind.AUTOGROUP, Kind.IP_RANGE, Kind.IPSET):
        ctx.report(path, f'SSH tests dst contains disallowed element "{sel.text}"', CODE)
        return
    if sel.kind is Kind.TAG and sel.value not in ctx.tags:
        # SaaS's wording; it is also what a "tag:x:22" (a port on an ssh dst) gets.
        ctx.report(path, f'SSH tests dst contains unknown tag "{sel.value}"', CODE)
        return
    if sel.kind is Kind.IP and sel.network is not None and sel.network.version == 6:
        ctx.report(
            path,
            f'{where}: dst "{sel.text}": Tailscale rejects a bare IPv6 address as an SSH test '
            "dst (test(s) failed); use the device's IPv4, user or tag",
            CODE,
        )
        return
    reason = undefined(ctx, sel)
    if reason is not None:
        ctx.report(path, f'{where}: dst "{sel.text}": {reason}', CODE)


def check_test_shapes(ctx: Context) -> None:
    check_tests(ctx)
    check_ssh_tests(ctx)
