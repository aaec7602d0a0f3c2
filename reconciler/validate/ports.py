"""Port ranges and IP protocols, parsed with Tailscale's rules and messages.

Policy model layer (stdlib only). Used by the validator (`rules`, `tests_shape`) and by
the engine: `parse_ports`, `parse_proto`, `split_acl_dst` and `parse_grant_ip` return
small immutable values and raise `PortError` / `ProtoError` whose text is what
Tailscale says (``port range "ssh": invalid first integer``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

MAX_PORT = 65535

# IANA numbers for the names Tailscale's `proto` accepts (policy-semantics.md 2.3).
# SaaS also takes "icmp" although its docs table omits it; "ipv6-icmp" and "fc" are
# accepted by Headscale and harmless to accept here.
PROTOCOL_NAMES: dict[str, int] = {
    "icmp": 1,
    "igmp": 2,
    "ipv4": 4,
    "ip-in-ip": 4,
    "tcp": 6,
    "egp": 8,
    "igp": 9,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "sctp": 132,
    "fc": 133,
}
TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132
# No `proto` (or a bare port in a grant `ip`) means TCP, UDP, ICMPv4 and ICMPv6 on the wire.
DEFAULT_PROTOCOLS: tuple[int, ...] = (TCP, UDP, ICMP, ICMPV6)
# Only these protocols have ports; every other one must use "*".
PORTED_PROTOCOLS = frozenset({TCP, UDP, SCTP})


class PortError(ValueError):
    """A port list that Tailscale rejects; str() is Tailscale's message."""


class ProtoError(ValueError):
    """A protocol name or number that Tailscale rejects."""


@dataclass(frozen=True, order=True)
class PortRange:
    first: int
    last: int

    def __str__(self) -> str:
        if (self.first, self.last) == (0, MAX_PORT):
            return "*"
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    @property
    def is_all(self) -> bool:
        return self.first == 0 and self.last == MAX_PORT


ALL_PORTS = PortRange(0, MAX_PORT)

_DIGITS = re.compile(r"[0-9]+")


def _port_number(text: str) -> int | None:
    """A decimal port 0..65535, as Go's ParseUint(s, 10, 16) reads it, or None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_PORT else None


def parse_port_range(text: str) -> PortRange:
    """One element of a port list: `*`, `N` or `A-B`."""
    if text == "*":
        return ALL_PORTS
    first_text, sep, last_text = text.partition("-")
    first = _port_number(first_text)
    if first is None:
        raise PortError(f'port range "{text}": invalid first integer')
    last = first
    if sep:
        parsed_last = _port_number(last_text)
        if parsed_last is None:
            raise PortError(f'port range "{text}": invalid last integer')
        last = parsed_last
    if first == 0:
        raise PortError(f"port range \"{text}\": first port must be >0, or use '*' for wildcard")
    if last < first:
        raise PortError(f'port range "{text}": last port must be >= first port')
    return PortRange(first, last)


@functools.lru_cache(maxsize=1 << 16)  # pure text -> immutable result; policies repeat
def parse_ports(text: str) -> tuple[PortRange, ...]:
    """A port list as written after the last ':' of an ACL dst, or in a grant `ip`."""
    return tuple(parse_port_range(part.strip()) for part in text.split(","))


@functools.lru_cache(maxsize=1 << 16)  # pure text -> immutable result; policies repeat
def parse_proto(text: str) -> int | None:
    """An ACL/test `proto`: a name or a number 1-255. None (empty) means the default set."""
    name = text.strip()
    if name == "":
        return None
    lowered = name.lower()
    if lowered in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[lowered]
    if _DIGITS.fullmatch(name):
        if len(name) > 1 and name.startswith("0"):
            raise ProtoError(f'proto "{name}": leading 0 not permitted in protocol number')
        number = int(name)
        if not 1 <= number <= 255:
            raise ProtoError(f'proto "{name}": protocol number out of range (1-255)')
        return number
    known = ", ".join(sorted(PROTOCOL_NAMES))
    raise ProtoError(f'proto "{name}": unknown protocol; use a number 1-255 or one of {known}')


def check_ports_for_proto(proto: int | None, ports: tuple[PortRange, ...], label: str) -> None:
    """Only TCP, UDP and SCTP name specific ports; others need '*' (policy-semantics 2.3)."""
    if proto is None or proto in PORTED_PROTOCOLS:
        return
    if any(not p.is_all for p in ports):
        raise ProtoError(
            f'protocol does not support specific ports: "{label}", only "*" is allowed'
        )


class AclDst(NamedTuple):
    """An ACL dst entry split into its host part and its (unparsed) port list."""

    host: str
    ports: str


@functools.lru_cache(maxsize=1 << 16)  # pure text -> immutable result; policies repeat
def split_acl_dst(text: str) -> AclDst:
    """Split `host:ports` at the last ':'; `[v6]:ports` keeps the address without brackets.

    An entry with no ':' at all has no port list; that is reported by the caller as a
    missing port (ports == "").
    """
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[end + 1 : end + 2] == ":":
            return AclDst(text[1:end], text[end + 2 :])
    host, sep, ports = text.rpartition(":")
    if not sep:
        return AclDst(text, "")
    return AclDst(host, ports)


class GrantIP(NamedTuple):
    """A grant `ip` entry: protocol (None = the default set) and port ranges."""

    proto: int | None
    ports: tuple[PortRange, ...]


@functools.lru_cache(maxsize=1 << 16)  # pure text -> immutable result; policies repeat
def parse_grant_ip(text: str) -> GrantIP:
    """`*`, `<ports>`, `<proto>:*` or `<proto>:<ports>` (policy-semantics.md 1.4, 2.3)."""
    text = text.strip()
    if text == "*":
        return GrantIP(None, (ALL_PORTS,))
    parts = text.split(":")
    if len(parts) > 2:
        raise PortError(f'ip "{text}": expected only one colon in Internet protocol and port type')
    if len(parts) == 1:
        return GrantIP(None, parse_ports(text))
    proto_text, ports_text = parts
    proto = parse_proto(proto_text)
    ports = parse_ports(ports_text)
    check_ports_for_proto(proto, ports, proto_text.strip())
    return GrantIP(proto, ports)
