"""`acls` entries: action, selectors, ports, protocols, references, locations."""

from __future__ import annotations

from reconciler.core.problems import Problem
from reconciler.core.source import Location

from .helpers import FILE, acl, errors, messages, policy, source_map


def test_valid_acls_have_no_problems() -> None:
    doc = policy(
        acls=[
            acl(["group:eng"], ["tag:web:80,443", "db1:5432"]),
            acl(["*"], ["*:*"], proto="udp"),
            acl(["10.0.0.0/8", "100.64.0.1"], ["office:*", "[fd7a:115c:a1e0::1]:22"]),
            acl(["alice@example.com", "tag:ci"], ["autogroup:member:22", "tag:db:1-65535"]),
            acl(["autogroup:danger-all"], ["autogroup:internet:*"], proto="1"),
        ]
    )
    assert errors(doc) == []


def test_undefined_src_tag_is_located_at_the_src_entry() -> None:
    doc = policy(acls=[acl(["tag:nonexistent"], ["tag:web:22"])])
    sm = source_map(("acls", 0), ("acls", 0, "src", 0))
    assert errors(doc, sm) == [
        Problem('src=tag not found: "tag:nonexistent"', Location(FILE, 20, 5), code="not-found")
    ]


def test_undefined_dst_tag_names_the_host_part() -> None:
    doc = policy(acls=[acl(["*"], ["tag:nonexistent:22"])])
    assert messages(doc) == ['dst="tag:nonexistent": tag not found: "tag:nonexistent"']


def test_undefined_group_and_host() -> None:
    doc = policy(acls=[acl(["group:nope"], ["phantom:80"])])
    assert messages(doc) == [
        'src=group not found: "group:nope"',
        'dst="phantom": host not found: "phantom"',
    ]


def test_scim_group_needs_no_definition() -> None:
    assert messages(policy(acls=[acl(["group:sre@example.com"], ["tag:web:22"])])) == []


def test_action_must_be_accept() -> None:
    doc = policy(acls=[{"action": "deny", "src": ["*"], "dst": ["*:*"]}])
    sm = source_map(("acls", 0, "action"))
    assert errors(doc, sm) == [
        Problem('action="deny" is not supported', Location(FILE, 10, 5), code="action")
    ]
    assert messages(policy(acls=[{"src": ["*"], "dst": ["*:*"]}])) == ['action="" is not supported']


def test_whitespace_is_trimmed() -> None:
    doc = policy(acls=[{"action": " accept", "src": [" group:eng"], "dst": ["tag:web:22 "]}])
    assert messages(doc) == []


def test_dst_port_errors_quote_the_whole_entry() -> None:
    doc = policy(acls=[acl(["*"], ["tag:web:ssh", "autogroup:self", "tag:web:0", "db1"])])
    sm = source_map(*[("acls", 0, "dst", j) for j in range(4)])
    assert [(p.message, p.location) for p in errors(doc, sm)] == [
        ('dst="tag:web:ssh": port range "ssh": invalid first integer', Location(FILE, 10, 5)),
        ('dst="autogroup:self": port range "self": invalid first integer', Location(FILE, 20, 5)),
        (
            'dst="tag:web:0": port range "0": first port must be >0, or use \'*\' for wildcard',
            Location(FILE, 30, 5),
        ),
        ('dst="db1": missing port; write "db1:*" for all ports', Location(FILE, 40, 5)),
    ]


def test_proto_errors_and_port_compatibility() -> None:
    assert messages(policy(acls=[acl(["*"], ["*:*"], proto="tpc")])) == [
        'proto "tpc": unknown protocol; use a number 1-255 or one of ah, egp, esp, fc, gre, '
        "icmp, igmp, igp, ip-in-ip, ipv4, ipv6-icmp, sctp, tcp, udp"
    ]
    assert messages(policy(acls=[acl(["*"], ["tag:web:22"], proto="icmp")])) == [
        'protocol does not support specific ports: "icmp", only "*" is allowed'
    ]
    assert messages(policy(acls=[acl(["*"], ["tag:web:*"], proto="icmp")])) == []


def test_src_side_autogroups() -> None:
    doc = policy(acls=[acl(["autogroup:self"], ["*:*"]), acl(["autogroup:internet"], ["*:*"])])
    assert messages(doc) == [
        '"autogroup:self" not valid on the src side of a rule',
        '"autogroup:internet" not valid on the src side of a rule',
    ]


def test_danger_all_is_not_a_dst() -> None:
    doc = policy(acls=[acl(["*"], ["autogroup:danger-all:*"])])
    assert messages(doc) == ["cannot use autogroup:danger-all as a dst"]


def test_invalid_address_and_unknown_autogroup() -> None:
    doc = policy(acls=[acl(["%bogus%"], ["autogroup:everyone:*"])])
    assert messages(doc) == [
        'src="%bogus%": invalid address',
        'dst="autogroup:everyone": unknown autogroup: "autogroup:everyone"',
    ]


def test_legacy_users_and_ports_fields() -> None:
    doc = policy(acls=[{"action": "accept", "users": ["tag:nope"], "ports": ["tag:web:22"]}])
    assert messages(doc) == ['src=tag not found: "tag:nope"']
    both = policy(acls=[{"action": "accept", "src": ["*"], "users": ["*"], "dst": ["*:*"]}])
    assert messages(both) == ['only one of "src" and "users" (its legacy name) may be specified']


def test_src_posture_must_be_defined() -> None:
    doc = policy(
        postures={"posture:mac": ["node:os == 'macos'"]},
        acls=[acl(["*"], ["*:*"], srcPosture=["posture:mac", "posture:win", "mac"])],
    )
    assert messages(doc) == [
        'srcPosture: posture not found: "posture:win"',
        "srcPosture: \"mac\": posture names must start with 'posture:'",
    ]


def test_domain_expression_checked_only_with_tailnet_domains() -> None:
    doc = policy(acls=[acl(["user:*@example.org"], ["tag:web:22"])])
    assert messages(doc) == []
    assert messages(doc, tailnet_domains={"example.com"}) == [
        "example.org is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    ]
    assert messages(doc, tailnet_domains={"example.org"}) == []
