"""groups, tagOwners, hosts, autoApprovers, nodeAttrs, derpMap and settings."""

from __future__ import annotations

from reconciler.core.problems import Problem, Severity
from reconciler.core.source import Location
from reconciler.validate.validate import validate_policy

from .helpers import FILE, errors, messages, policy, source_map


def test_group_members_cannot_be_groups() -> None:
    doc = policy(groups={"group:eng": [], "group:a": ["group:b"], "group:b": ["group:a"]})
    sm = source_map(("groups", "group:a", 0), ("groups", "group:b", 0))
    assert errors(doc, sm) == [
        Problem(
            'groups["group:a"]: "group:b": group members cannot be recursive',
            Location(FILE, 10, 5),
            code="group-recursive",
        ),
        Problem(
            'groups["group:b"]: "group:a": group members cannot be recursive',
            Location(FILE, 20, 5),
            code="group-recursive",
        ),
    ]


def test_group_members_must_be_logins() -> None:
    doc = policy(groups={"group:eng": [], "group:a": ["alice@example.com", "bob", "tag:web", 7]})
    assert messages(doc) == [
        'groups["group:a"][3]: expected a string, got integer',
        'groups["group:a"]: "bob": group members must be user logins (user@example.com, '
        "user@github, user@passkey)",
        'groups["group:a"]: "tag:web": group members must be user logins (user@example.com, '
        "user@github, user@passkey)",
    ]


def test_group_names_need_the_prefix() -> None:
    doc = policy(groups={"group:eng": [], "eng": ["alice@example.com"]})
    sm = source_map(("groups", "eng"))
    assert errors(doc, sm) == [
        Problem(
            "groups[\"eng\"]: names must start with 'group:'", Location(FILE, 10, 3), code="name"
        )
    ]


def test_tag_names_must_start_with_a_letter() -> None:
    doc = policy(tagOwners={"tag:сервер": ["alice@example.com"], "tag:1x": [], "tag:ok-1": []})
    assert messages(doc) == [
        "tagOwners[\"tag:сервер\"]: tag names must start with a letter, after 'tag:'",
        "tagOwners[\"tag:1x\"]: tag names must start with a letter, after 'tag:'",
    ]


def test_tag_owners() -> None:
    doc = policy(
        tagOwners={
            "tag:a": ["tag:b", "group:eng", "autogroup:admin", "alice@example.com"],
            "tag:b": ["tag:a"],  # cycles and self-ownership are accepted by SaaS
            "tag:c": ["tag:c"],
            "tag:d": ["tag:zzz", "group:nope", "*", "10.0.0.1"],
        }
    )
    assert messages(doc) == [
        'tagOwners["tag:d"]: tag not found: "tag:zzz"',
        'tagOwners["tag:d"]: group not found: "group:nope"',
        'tagOwners["tag:d"]: "*": must be a user, group, tag or role autogroup',
        'tagOwners["tag:d"]: "10.0.0.1": must be a user, group, tag or role autogroup',
    ]


def test_hosts() -> None:
    doc = policy(
        hosts={
            "ok": "100.64.0.1",
            "net": "10.0.0.0/8",
            "v6": "fd7a:115c:a1e0::1",
            "a@b": "100.64.0.2",
            "bad": "not-an-ip",
            "num": 7,
        }
    )
    assert messages(doc) == [
        'hosts["num"]: expected a string, got integer',
        "hosts[\"a@b\"]: host names may hold letters, digits, '.', '-' and '_', and must not "
        "be an IP or contain '@' or a prefix such as 'tag:'",
        'hosts["bad"]: "not-an-ip": invalid IP address or CIDR',
    ]


def test_auto_approvers() -> None:
    doc = policy(
        autoApprovers={
            "routes": {"10.0.0.0/8": ["tag:web", "group:eng"], "nonsense": ["tag:nope"]},
            "exitNode": ["tag:db", "*"],
        }
    )
    assert messages(doc) == [
        'autoApprovers.routes["nonsense"]: invalid route, expected a CIDR',
        'autoApprovers.routes["nonsense"]: tag not found: "tag:nope"',
        'autoApprovers.exitNode: "*": must be a user, group, tag or role autogroup',
    ]


def test_node_attrs() -> None:
    doc = policy(
        nodeAttrs=[
            {
                "target": ["*", "tag:web", "autogroup:admin", "db1", "100.64.0.10/32"],
                "attr": ["funnel"],
            },
            {"target": ["%bogus%"], "attr": ["x"]},
            {"target": ["tag:undefined-tag"], "attr": ["x"]},
            {"target": ["autogroup:self"], "attr": ["x"]},
            {
                "target": ["group:eng"],
                "ipPool": ["100.81.0.0/16", "100.100.100.0/24", "10.0.0.0/8"],
            },
        ]
    )
    sm = source_map(("nodeAttrs", 1, "target", 0))
    problems = errors(doc, sm)
    assert [p.message for p in problems] == [
        '"%bogus%": invalid address',
        'tag not found: "tag:undefined-tag"',
        '"autogroup:self" is not a valid nodeAttrs target',
        "IPPool(100.100.100.0/24): network within reserved range",
        "IPPool(10.0.0.0/8): network not within 100.64.0.0/10",
    ]
    assert problems[0].location == Location(FILE, 10, 5)


def test_settings() -> None:
    doc = policy(OneCGNATRoute="mac-sometimes", randomizeClientPort=True)
    assert messages(doc) == [
        'OneCGNATRoute: "mac-sometimes" is not one of "", "mac-always", "mac-never"'
    ]
    assert messages(policy(oneCGNATRoute="mac-never", disableIPv4=False)) == []
    [warning] = validate_policy(policy(disableIPv4=True))
    assert warning.severity is Severity.WARNING


def test_derp_map() -> None:
    doc = policy(
        derpMap={
            "OmitDefaultRegions": True,
            "Regions": {
                "900": {
                    "RegionID": 900,
                    "RegionCode": "my",
                    "Nodes": [{"Name": "1", "HostName": "d.x"}],
                },
                "901": {"RegionID": 902, "Nodes": [{"Name": "2", "HostNam": "d.y"}]},
                "abc": {},
            },
        }
    )
    assert messages(doc) == [
        'derpMap.Regions["901"].Nodes[0]: unknown field "HostNam" (did you mean "HostName"?)',
        'derpMap region "901": RegionID 902 does not match its key',
        'derpMap region "abc": region keys must be numbers',
    ]
