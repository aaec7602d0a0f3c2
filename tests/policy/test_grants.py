"""`grants` entries: ip, app, via, dst rules."""

from __future__ import annotations

import pytest

from reconciler.core.problems import Problem
from reconciler.core.source import Location

from .helpers import FILE, errors, grant, messages, policy, source_map


def test_valid_grants_have_no_problems() -> None:
    doc = policy(
        grants=[
            grant(["group:eng"], ["tag:web"], ip=["tcp:443", "80", "icmp:*", "1000-2000"]),
            grant(["*"], ["*"], ip=["*"]),
            grant(["autogroup:member"], ["autogroup:internet"], ip=["*"], via=["tag:web"]),
            grant(["tag:ci"], ["svc:web", "10.1.0.0/16"], ip=["tcp:22"], via=[]),
            grant(
                ["group:eng"],
                ["tag:db"],
                app={"example.com/cap/db": [{"role": "admin"}], "tailscale.com/cap/drive": [{}]},
            ),
            grant([], [], ip=["*"]),
        ]
    )
    assert errors(doc) == []


@pytest.mark.parametrize(
    "entry",
    [
        grant(["*"], ["*"]),
        grant(["*"], ["*"], ip=[]),
        grant(["*"], ["*"], app={}),
        grant(["*"], ["*"], ip=None),
    ],
)
def test_ip_and_app_can_not_both_be_empty(entry: dict[str, object]) -> None:
    doc = policy(grants=[entry])
    sm = source_map(("grants", 0))
    assert errors(doc, sm) == [
        Problem("ip and app can not both be empty", Location(FILE, 10, 5), code="grant-empty")
    ]


def test_ip_errors_use_tailscale_wording() -> None:
    doc = policy(grants=[grant(["*"], ["tag:web"], ip=["icmp", "tcp:0", "tcp:ssh"])])
    sm = source_map(*[("grants", 0, "ip", j) for j in range(3)])
    assert [(p.message, p.location) for p in errors(doc, sm)] == [
        ('port range "icmp": invalid first integer', Location(FILE, 10, 5)),
        ("port range \"0\": first port must be >0, or use '*' for wildcard", Location(FILE, 20, 5)),
        ('port range "ssh": invalid first integer', Location(FILE, 30, 5)),
    ]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_default_route_dst(cidr: str) -> None:
    doc = policy(grants=[grant(["*"], [cidr], ip=["*"])])
    assert messages(doc) == [
        f'dst "{cidr}": to allow all IP addresses, use "*" or "autogroup:internet"'
    ]


def test_app_capability_names() -> None:
    doc = policy(
        grants=[
            grant(
                ["*"],
                ["*"],
                app={
                    "https://example.com/cap/x": [{}],
                    "tailscale.com/cap/funnel": [{}],
                    "tailscale.com/cap/relay-target": [{}],
                    "nodomain": [{}],
                },
            )
        ]
    )
    sm = source_map(("grants", 0, "app", "tailscale.com/cap/funnel"))
    problems = errors(doc, sm)
    assert [p.message for p in problems] == [
        "capability name must have the form {domain}/{path}",
        "capability name must not be in the tailscale.com domain",
        "capability name must not be in the tailscale.com domain",
        "capability name must have the form {domain}/{path}",
    ]
    # Capability problems point at the key that names the capability.
    assert problems[1].location == Location(FILE, 10, 3)


def test_app_parameters_must_be_objects() -> None:
    doc = policy(grants=[grant(["*"], ["*"], app={"example.com/cap/x": ["admin"]})])
    assert messages(doc) == [
        'grants[0].app["example.com/cap/x"][0]: expected an object, got string'
    ]


def test_app_with_autogroup_internet() -> None:
    doc = policy(
        grants=[grant(["*"], ["autogroup:internet"], ip=["*"], app={"example.com/cap/x": [{}]})]
    )
    assert messages(doc) == ["cannot use app grants with autogroup:internet"]


def test_via_must_be_defined_tags() -> None:
    doc = policy(
        grants=[grant(["*"], ["10.1.0.0/16"], ip=["*"], via=["autogroup:tagged", "tag:nope"])]
    )
    assert messages(doc) == ["via can only be a tag", 'tag "tag:nope" not found']


def test_danger_all_dst_and_undefined_src() -> None:
    doc = policy(grants=[grant(["tag:nope"], ["autogroup:danger-all"], ip=["tcp:22"])])
    assert messages(doc) == [
        'src=tag not found: "tag:nope"',
        "cannot use autogroup:danger-all as a dst",
    ]


def test_ports_in_a_grant_dst_get_a_hint() -> None:
    doc = policy(grants=[grant(["*"], ["tag:web:443"], ip=["*"])])
    assert messages(doc) == [
        'dst="tag:web:443": grant destinations take no ports; put them in "ip"'
    ]


def test_src_must_be_a_list_of_strings() -> None:
    doc = policy(grants=[{"src": "group:eng", "dst": ["*"], "ip": ["*", 22]}])
    assert messages(doc) == [
        "grants[0].src: expected a list of strings, got string",
        "grants[0].ip[1]: expected a string, got integer",
    ]
