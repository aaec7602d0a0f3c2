"""`ssh` entries: action, src/dst rules, users, checkPeriod, acceptEnv."""

from __future__ import annotations

import pytest

from reconciler.core.problems import Problem, Severity
from reconciler.core.source import Location
from reconciler.validate.validate import validate_policy

from .helpers import FILE, errors, messages, policy, source_map, ssh


def test_valid_ssh_rules() -> None:
    doc = policy(
        ssh=[
            ssh(["group:eng"], ["tag:web"], ["root", "autogroup:nonroot"]),
            ssh(["autogroup:member"], ["autogroup:self"], ["localpart:*@example.com"]),
            ssh(["alice@example.com"], ["alice@example.com"], ["alice"]),
            ssh(["tag:ci"], ["tag:db"], ["deploy"], acceptEnv=["GIT_*", "TERM"]),
            {
                "action": "check",
                "src": [" alice@example.com"],
                "dst": ["tag:web "],
                "users": [" root"],
                "checkPeriod": "168h",
            },
            {
                "action": "check",
                "src": ["group:eng"],
                "dst": ["tag:web"],
                "users": ["root"],
                "checkPeriod": "always",
                "acceptEnv": None,
            },
            ssh(["group:eng"], [], ["root"]),
            ssh(["group:eng"], ["tag:web"], ["group:foo", "tag:foo", "localpart:", "🚀"]),
        ]
    )
    assert errors(doc, tailnet_domains={"example.com"}) == []


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (None, "action must be specified"),
        ("", "action must be specified"),
        ("deny", '"deny" is not a valid action'),
        ("Accept", '"Accept" is not a valid action'),
    ],
)
def test_action(action: str | None, message: str) -> None:
    rule = ssh(["group:eng"], ["tag:web"], ["root"])
    if action is None:
        del rule["action"]
    else:
        rule["action"] = action
    doc = policy(ssh=[rule])
    # A missing action has no location of its own: the problem points at the rule.
    paths = [("ssh", 0)] if action is None else [("ssh", 0), ("ssh", 0, "action")]
    sm = source_map(*paths)
    location = Location(FILE, 10 * len(paths), 5)
    assert errors(doc, sm) == [Problem(message, location, code="action")]


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ([], "users must be specified"),
        (None, "users must be specified"),
        (["root", ""], 'user "" is not valid'),
        (["*"], 'user "*" is not valid'),
    ],
)
def test_users(users: list[str] | None, message: str) -> None:
    assert messages(policy(ssh=[ssh(["group:eng"], ["tag:web"], users)])) == [message]  # type: ignore[arg-type]


def test_localpart_domain() -> None:
    doc = policy(
        ssh=[
            ssh(
                ["group:eng"],
                ["tag:web"],
                ["localpart:*@example.org", "localpart:*@EXAMPLE.COM", "localpart:*@*"],
            )
        ]
    )
    assert messages(doc, tailnet_domains={"example.com"}) == [
        f"{d} is not associated with this Tailnet and cannot be used in user:*@<domain> expressions"
        for d in ("example.org", "EXAMPLE.COM", "*")
    ]
    assert messages(doc) == []


def test_domain_in_ssh_src_is_prefixed() -> None:
    doc = policy(ssh=[ssh(["user:*@example.org"], ["tag:web"], ["root"])])
    assert messages(doc, tailnet_domains={"example.com"}) == [
        "[ssh] example.org is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    ]


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("abc", 'time: invalid duration "abc"'),
        ("200h", "checkPeriod 200h0m0s is above the max (168h)"),
        ("168h0m1s", "checkPeriod 168h0m1s is above the max (168h)"),
        ("-1m", "checkPeriod -1m0s must be a positive duration"),
    ],
)
def test_check_period(period: str, message: str) -> None:
    rule = ssh(["group:eng"], ["tag:web"], ["root"], checkPeriod=period)
    rule["action"] = "check"
    assert messages(policy(ssh=[rule])) == [message]


def test_check_period_on_accept_is_a_warning() -> None:
    doc = policy(ssh=[ssh(["group:eng"], ["tag:web"], ["root"], checkPeriod="1h")])
    [problem] = validate_policy(doc)
    assert problem.severity is Severity.WARNING
    assert "no effect" in problem.message


def test_accept_env_cannot_be_empty() -> None:
    doc = policy(ssh=[ssh(["group:eng"], ["tag:web"], ["root"], acceptEnv=["TERM", ""])])
    sm = source_map(("ssh", 0, "acceptEnv", 1))
    assert errors(doc, sm) == [
        Problem("acceptEnv values cannot be empty", Location(FILE, 10, 5), code="acceptEnv")
    ]


def test_host_alias_and_wildcard_are_invalid_dst() -> None:
    doc = policy(ssh=[ssh(["group:eng"], ["db1", "*", "10.0.0.0/8"], ["root"])])
    assert messages(doc) == ['invalid dst "db1"', 'invalid dst "*"', 'invalid dst "10.0.0.0/8"']


def test_invalid_src_kinds() -> None:
    doc = policy(ssh=[ssh(["*", "100.64.0.1", "db1"], ["tag:web"], ["root"])])
    assert messages(doc) == [
        f'src="{s}": not valid as an ssh src; use users, groups, tags, autogroup:member, '
        "autogroup:tagged or user:*@<domain>"
        for s in ("*", "100.64.0.1", "db1")
    ]


def test_user_dst_needs_that_user_alone() -> None:
    doc = policy(
        ssh=[
            ssh(["group:eng"], ["alice@example.com"], ["root"]),
            ssh(["tag:ci"], ["alice@example.com"], ["root"]),
        ]
    )
    assert messages(doc) == [
        'dst="alice@example.com": a user dst needs that same user as the only src; use '
        "autogroup:self for same-user access",
        'dst="alice@example.com": tags in an ssh src cannot reach user-owned devices; use tags '
        "or autogroup:tagged as dst",
    ]


def test_tagged_src_with_self_dst() -> None:
    doc = policy(ssh=[ssh(["tag:ci"], ["autogroup:self"], ["root"])])
    assert messages(doc) == [
        "autogroup:self can only be used with users, groups, or supported autogroups"
    ]


def test_undefined_tags() -> None:
    doc = policy(ssh=[ssh(["tag:nope"], ["tag:gone"], ["root"])])
    assert messages(doc) == [
        'src=tag not found: "tag:nope"',
        'dst="tag:gone": tag not found: "tag:gone"',
    ]
