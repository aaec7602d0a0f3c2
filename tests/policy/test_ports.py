"""Port lists, protocols, ACL dst splitting and grant `ip` entries."""

from __future__ import annotations

import pytest

from reconciler.validate.ports import (
    ALL_PORTS,
    AclDst,
    GrantIP,
    PortError,
    PortRange,
    ProtoError,
    parse_grant_ip,
    parse_ports,
    parse_proto,
    split_acl_dst,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*", (ALL_PORTS,)),
        ("22", (PortRange(22, 22),)),
        ("80,443", (PortRange(80, 80), PortRange(443, 443))),
        ("1000-2000", (PortRange(1000, 2000),)),
        ("22, 80-81", (PortRange(22, 22), PortRange(80, 81))),
        ("65535", (PortRange(65535, 65535),)),
    ],
)
def test_parse_ports(text: str, expected: tuple[PortRange, ...]) -> None:
    assert parse_ports(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ssh", 'port range "ssh": invalid first integer'),
        ("self", 'port range "self": invalid first integer'),
        ("0", "port range \"0\": first port must be >0, or use '*' for wildcard"),
        ("65536", 'port range "65536": invalid first integer'),
        ("-1", 'port range "-1": invalid first integer'),
        ("10-x", 'port range "10-x": invalid last integer'),
        ("20-10", 'port range "20-10": last port must be >= first port'),
        ("22,ssh", 'port range "ssh": invalid first integer'),
    ],
)
def test_parse_ports_errors(text: str, message: str) -> None:
    with pytest.raises(PortError) as e:
        parse_ports(text)
    assert str(e.value) == message


def test_port_range_str_and_contains() -> None:
    assert str(ALL_PORTS) == "*"
    assert str(PortRange(22, 22)) == "22"
    assert str(PortRange(80, 90)) == "80-90"
    assert 85 in PortRange(80, 90)
    assert 91 not in PortRange(80, 90)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("tcp", 6), (" udp ", 17), ("icmp", 1), ("6", 6), ("255", 255), ("sctp", 132)],
)
def test_parse_proto(text: str, expected: int | None) -> None:
    assert parse_proto(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0", "out of range"),
        ("256", "out of range"),
        ("06", "leading 0"),
        ("*", "unknown protocol"),
        ("tpc", "unknown protocol"),
    ],
)
def test_parse_proto_errors(text: str, fragment: str) -> None:
    with pytest.raises(ProtoError) as e:
        parse_proto(text)
    assert fragment in str(e.value)
    assert str(e.value).startswith(f'proto "{text}"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:web:80", AclDst("tag:web", "80")),
        ("*:*", AclDst("*", "*")),
        ("autogroup:self", AclDst("autogroup", "self")),
        ("fd00:1::/64:*", AclDst("fd00:1::/64", "*")),
        ("[fd7a:115c:a1e0::1]:22", AclDst("fd7a:115c:a1e0::1", "22")),
        ("  db1:5432 ", AclDst("db1", "5432")),
        ("webserver", AclDst("webserver", "")),
    ],
)
def test_split_acl_dst(text: str, expected: AclDst) -> None:
    assert split_acl_dst(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*", GrantIP(None, (ALL_PORTS,))),
        ("443", GrantIP(None, (PortRange(443, 443),))),
        ("80-443", GrantIP(None, (PortRange(80, 443),))),
        ("tcp:443", GrantIP(6, (PortRange(443, 443),))),
        ("icmp:*", GrantIP(1, (ALL_PORTS,))),
        ("47", GrantIP(None, (PortRange(47, 47),))),
    ],
)
def test_parse_grant_ip(text: str, expected: GrantIP) -> None:
    assert parse_grant_ip(text) == expected
    proto, ports = parse_grant_ip(text)  # unpacks like a tuple for the engine
    assert (proto, ports) == tuple(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("icmp", 'port range "icmp": invalid first integer'),
        ("tcp:0", "port range \"0\": first port must be >0, or use '*' for wildcard"),
        ("tcp:22:33", 'ip "tcp:22:33": expected only one colon in Internet protocol and port type'),
        ("icmp:8", 'protocol does not support specific ports: "icmp", only "*" is allowed'),
    ],
)
def test_parse_grant_ip_errors(text: str, message: str) -> None:
    with pytest.raises((PortError, ProtoError)) as e:
        parse_grant_ip(text)
    assert str(e.value) == message
