"""Selectors: classify one alias string of a policy (src, dst, target, owner, approver).

Policy model layer (stdlib only). `parse_selector` trims whitespace as Tailscale SaaS does
and returns a frozen `Selector`; whether that kind is allowed where it was written, and
whether the tag/group/host it names exists, is decided by the callers (`rules`,
`sections`, the engine). Unparseable text raises `SelectorSyntaxError` with Tailscale's
``"%bogus%": invalid address`` wording.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from enum import Enum

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(str, Enum):
    WILDCARD = "wildcard"  # *
    USER = "user"  # alice@example.com, bob@github, carol@passkey
    DOMAIN = "domain"  # user:*@example.com
    GROUP = "group"  # group:eng, group:sre@example.com (SCIM)
    TAG = "tag"  # tag:prod
    AUTOGROUP = "autogroup"  # autogroup:member
    HOST = "host"  # a hosts alias: db, or host:db (ipset form)
    IP = "ip"  # 100.64.0.1, fd7a:115c:a1e0::1
    CIDR = "cidr"  # 10.0.0.0/8
    IP_RANGE = "ip-range"  # 10.0.0.1-10.0.0.9 (ipsets only)
    IPSET = "ipset"  # ipset:prod
    SERVICE = "svc"  # svc:web


AUTOGROUP_MEMBER = "autogroup:member"
AUTOGROUP_MEMBERS = "autogroup:members"  # legacy spelling of autogroup:member
AUTOGROUP_TAGGED = "autogroup:tagged"
AUTOGROUP_SELF = "autogroup:self"
AUTOGROUP_INTERNET = "autogroup:internet"
AUTOGROUP_DANGER_ALL = "autogroup:danger-all"
AUTOGROUP_SHARED = "autogroup:shared"
AUTOGROUP_NONROOT = "autogroup:nonroot"  # ssh `users` only
ROLE_AUTOGROUPS = frozenset(
    {
        "autogroup:owner",
        "autogroup:admin",
        "autogroup:member",
        "autogroup:it-admin",
        "autogroup:network-admin",
        "autogroup:billing-admin",
        "autogroup:auditor",
    }
)
KNOWN_AUTOGROUPS = frozenset(
    ROLE_AUTOGROUPS
    | {
        AUTOGROUP_TAGGED,
        AUTOGROUP_SELF,
        AUTOGROUP_INTERNET,
        AUTOGROUP_DANGER_ALL,
        AUTOGROUP_SHARED,
        AUTOGROUP_MEMBERS,
    }
)

# Host alias names: what a hosts key may look like and be referenced as.
_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_PREFIXES = {
    "group:": Kind.GROUP,
    "tag:": Kind.TAG,
    "autogroup:": Kind.AUTOGROUP,
    "ipset:": Kind.IPSET,
    "svc:": Kind.SERVICE,
}


class SelectorSyntaxError(ValueError):
    """An alias Tailscale cannot parse; str() is the message."""


@dataclass(frozen=True)
class Selector:
    """One parsed alias.

    `value` is the canonical name to look up: the full `tag:x` / `group:x` /
    `autogroup:x` / `ipset:x` / `svc:x`, the login for a user, the host alias name
    (without `host:`), the domain for `user:*@domain`, or the address text for IPs.
    `network` is set for IP, CIDR (the prefix) and None otherwise; `range_` for IP_RANGE.
    """

    kind: Kind
    value: str
    text: str
    network: IPNetwork | None = None
    range_: tuple[IPAddress, IPAddress] | None = None

    def __str__(self) -> str:
        return self.text


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_network(text: str) -> IPNetwork | None:
    """A CIDR as Go's netip.ParsePrefix reads it: host bits may be set, /n required."""
    addr, sep, bits = text.partition("/")
    if not sep or not bits.isdigit() or (len(bits) > 1 and bits.startswith("0")):
        return None
    ip = parse_ip(addr)
    if ip is None or int(bits) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


@functools.lru_cache(maxsize=1 << 16)  # pure text -> immutable result; policies repeat
def parse_selector(text: str) -> Selector:
    """Classify `text` (trimmed). Raises SelectorSyntaxError when it is no alias at all."""
    s = text.strip()
    if s == "*":
        return Selector(Kind.WILDCARD, "*", s)
    if s.startswith("user:"):
        rest = s[len("user:") :]
        if rest.startswith("*@"):
            return Selector(Kind.DOMAIN, rest[2:], s)
        if "*" in rest:
            raise SelectorSyntaxError(
                f'"{s}": partial wildcards are not supported, use user:*@<domain>')
        return Selector(Kind.USER, rest, s)
    if s.startswith("host:"):
        return Selector(Kind.HOST, s[len("host:") :], s)
    for prefix, kind in _PREFIXES.items():
        if s.startswith(prefix):
            return Selector(kind, s, s)
    if "@" in s:
        return Selector(Kind.USER, s, s)
    ip = parse_ip(s)
    if ip is not None:
        return Selector(Kind.IP, str(ip), s, network=ipaddress.ip_network(ip))
    if "/" in s:
        network = parse_network(s)
        if network is None:
            raise SelectorSyntaxError(f'"{s}": invalid address')
        return Selector(Kind.CIDR, s, s, network=network)
    if "-" in s:
        low, _, high = s.partition("-")
        first, last = parse_ip(low.strip()), parse_ip(high.strip())
        if first is not None and last is not None:
            # Same family first: int() compares the addresses (as `<` does within one).
            if first.version != last.version or int(last) < int(first):
                raise SelectorSyntaxError(f'"{s}": invalid IP range')
            return Selector(Kind.IP_RANGE, s, s, range_=(first, last))
    if _HOST_NAME.fullmatch(s):
        return Selector(Kind.HOST, s, s)
    raise SelectorSyntaxError(f'"{s}": invalid address')


def is_valid_host_name(name: str) -> bool:
    """Whether `name` can be a hosts key (and so be referenced as a bare alias)."""
    if not _HOST_NAME.fullmatch(name) or parse_ip(name) is not None:
        return False
    return not any(name.startswith(p) for p in (*_PREFIXES, "user:", "host:"))
