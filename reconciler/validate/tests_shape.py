"""Entry shapes of `tests` and `sshTests` (policy-semantics.md 2.7, 2.8).

Policy model layer (imports `policy.context`, `policy.selectors`, `policy.ports`,
`policy.references`). SaaS answers every invalid test with the same `test(s) failed`
as a failing assertion; here each invalid entry gets a message that says what is
wrong (``tests[2]: "10.0.0.0/8:22": a test destination must be a single host, not a
CIDR``). The sshTests dst checks SaaS reports as validation errors keep its wording
(``SSH tests dst contains disallowed element "100.64.0.0/24"``). Whether the assertions
pass is the engine's job, not this module's.

A large policy repeats the same src and destination strings across thousands of tests,
so what is wrong with one string is worked out once per run (`_Memo`, message tails
without the ``tests[i]: `` head) and only re-emitted at each place it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.source import PathKey
from reconciler.validate.context import Context, as_list
from reconciler.validate.ports import MAX_PORT, ProtoError, parse_proto, split_acl_dst
from reconciler.validate.references import undefined
from reconciler.validate.selectors import (
    AUTOGROUP_INTERNET,
    Kind,
    Selector,
    SelectorSyntaxError,
    parse_network,
    parse_selector,
)

CODE = "test-shape"


def _field(entry: Mapping[str, Any], name: str, legacy: str) -> tuple[str, Any]:
    if name not in entry and legacy in entry:
        return legacy, entry[legacy]
    return name, entry.get(name)


def _check_src(ctx: Context, path: PathKey, where: str, value: Any) -> None:
    """A test src: one user, group, tag, host or IP (not `*`, not a CIDR)."""
    for tail in _src_problems(ctx, value):
        ctx.report(path, f"{where}: {tail}", CODE)


def _src_problems(ctx: Context, value: Any) -> tuple[str, ...]:
    """What is wrong with a test src, each message without its ``tests[i]: `` head."""
    if not isinstance(value, str) or value.strip() == "":
        return ("src must be specified",)
    try:
        sel = parse_selector(value)
    except SelectorSyntaxError as e:
        return (f"src {e}",)
    if sel.kind in (Kind.WILDCARD, Kind.CIDR, Kind.IP_RANGE, Kind.IPSET, Kind.SERVICE) or (
        sel.kind is Kind.AUTOGROUP and sel.value == AUTOGROUP_INTERNET
    ):
        return (
            f'src "{sel.text}" is not allowed: a test src must be a specific user, '
            "group, tag, host or IP",
        )
    reason = undefined(ctx, sel)
    if reason is not None:
        return (f'src "{sel.text}": {reason}',)
    return ()


class _Memo:
    """Per-run caches of what is wrong with test srcs and destinations, keyed by the
    string as written (the answers depend on the policy's definitions, so they live no
    longer than one validation). Destinations are also cached by host and by port: a
    large policy combines a few thousand hosts with a few ports."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.srcs: dict[str, tuple[str, ...]] = {}
        self.dsts: dict[str, tuple[str, ...]] = {}
        self.hosts: dict[str, tuple[str, ...]] = {}
        self.ports: dict[str, tuple[str, ...]] = {}
        self.clean_dsts: set[str] = set()

    def src(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, str):
            return _src_problems(self.ctx, value)
        tails = self.srcs.get(value)
        if tails is None:
            tails = self.srcs[value] = _src_problems(self.ctx, value)
        return tails

    def dst(self, text: str) -> tuple[str, ...]:
        tails = self.dsts.get(text)
        if tails is None:
            tails = self.dsts[text] = self._dst(text.strip())
            if not tails:
                self.clean_dsts.add(text)
        return tails

    def all_clean(self, items: list[Any]) -> bool:
        """Whether every item is a destination already found to have no problem: one
        C-level set operation instead of a lookup per item."""
        try:
            return self.clean_dsts.issuperset(items)
        except TypeError:  # an unhashable (malformed) item
            return False

    def _dst(self, text: str) -> tuple[str, ...]:
        """What is wrong with a (trimmed) test destination."""
        if ":" not in text:
            return (f'"{text}": a test destination needs a port, e.g. {text}:22',)
        if text.startswith("["):
            host, port = split_acl_dst(text)
        else:  # what split_acl_dst does here, without filling its cache with each text
            host, _, port = text.rpartition(":")
        port_tails = self.ports.get(port)
        if port_tails is None:
            port_tails = self.ports[port] = _test_port_problems(port)
        host_tails = self.hosts.get(host)
        if host_tails is None:
            host_tails = self.hosts[host] = _test_host_problems(self.ctx, host)
        if not port_tails and not host_tails:
            return ()
        return tuple(f'"{text}": {tail}' for tail in (*port_tails, *host_tails))


def _host_is_cidr(ctx: Context, sel: Selector) -> str | None:
    """The CIDR a host alias stands for, when it is not a single address."""
    value = ctx.hosts.get(sel.value)
    if isinstance(value, str) and "/" in value:
        return value.strip()
    return None


# ---------------------------------------------------------------------------- tests


def check_tests(ctx: Context) -> None:
    memo = _Memo(ctx)
    for i, entry in enumerate(as_list(ctx.policy.get("tests"))):
        if isinstance(entry, Mapping):
            _check_test(ctx, memo, i, entry)


def _report(ctx: Context, i: int, at: PathKey, tail: str) -> None:
    """Report `tail` about tests[i], at `at` inside it (the path and the message are
    built only here: almost every test has nothing to report)."""
    ctx.report(("tests", i, *at), f"tests[{i}]: {tail}", CODE)


def _check_test(ctx: Context, memo: _Memo, i: int, entry: Mapping[str, Any]) -> None:
    if "user" in entry or "allow" in entry:  # the legacy names are rare
        for name, legacy in (("src", "user"), ("accept", "allow")):
            if name in entry and legacy in entry:
                _report(
                    ctx,
                    i,
                    (legacy,),
                    f'only one of "{name}" and "{legacy}" (its legacy name) may be specified',
                )
    src_key, src = _field(entry, "src", "user")
    for tail in memo.src(src):
        _report(ctx, i, (src_key,), tail)

    proto_value = entry.get("proto")
    if isinstance(proto_value, str):
        try:
            parse_proto(proto_value)
        except ProtoError as e:
            _report(ctx, i, ("proto",), str(e))

    accept_key, accept = _field(entry, "accept", "allow")
    accept, deny = as_list(accept), as_list(entry.get("deny"))
    if not accept and not deny:
        _report(ctx, i, (), 'a test needs at least one "accept" or "deny" entry')
    for key, items in ((accept_key, accept), ("deny", deny)):
        if memo.all_clean(items):
            continue
        for j, dst in enumerate(items):
            if isinstance(dst, str):
                for tail in memo.dst(dst):
                    _report(ctx, i, (key, j), tail)


def _test_port_problems(port: str) -> tuple[str, ...]:
    if port == "*" or "," in port or ("-" in port and not port.startswith("-")):
        return (f'a test destination needs a single port, not "{port}"',)
    if not port.isdigit() or int(port) > MAX_PORT:
        return (f'invalid port "{port}", expected a number 0-65535',)
    return ()


def _test_host_problems(ctx: Context, host: str) -> tuple[str, ...]:
    if "/" in host:
        if parse_network(host) is None:
            return (f'"{host}" is not a valid address',)
        return ("a test destination must be a single host, not a CIDR",)
    try:
        sel = parse_selector(host)
    except SelectorSyntaxError as e:
        return (str(e),)
    if sel.kind in (Kind.WILDCARD, Kind.AUTOGROUP, Kind.IP_RANGE, Kind.IPSET):
        return (
            f'"{sel.text}" is not a valid test destination; use a user, group, '
            "tag, host, IP or svc:",
        )
    reason = undefined(ctx, sel)
    if reason is not None:
        return (reason,)
    if sel.kind is Kind.HOST:
        cidr = _host_is_cidr(ctx, sel)
        if cidr is not None:
            return (
                f'host "{sel.value}" is the CIDR {cidr}; a test destination must be '
                "a single host",
            )
    return ()


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
    except SelectorSyntaxError as e:
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


# All `check_test_shapes` reads of a policy: the tests, and the definitions their names
# must be in (`undefined`; hosts' values too, for `_host_is_cidr`).
READS = ("tests", "sshTests", "tagOwners", "groups", "hosts", "ipsets")


def same_test_checks(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether `check_test_shapes` finds the same in both policies (each problem at the
    same path): what it reads is equal in both. Equal is enough: values equal but of
    other types (1, 1.0, True) take the same branches, as only strings are looked into."""
    return all(a.get(key) == b.get(key) for key in READS)
