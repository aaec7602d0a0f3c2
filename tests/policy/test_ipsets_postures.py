"""ipsets (add/remove, references, cycles) and postures (condition grammar)."""

from __future__ import annotations

import pytest

from reconciler.core.source import Location
from reconciler.validate.postures import Condition, PostureSyntaxError, parse_condition

from .helpers import FILE, acl, errors, messages, policy, source_map


def test_valid_ipsets() -> None:
    doc = policy(
        ipsets={
            "ipset:office": ["10.1.0.0/16", "192.0.2.1"],
            "ipset:prod": [
                "add 10.0.0.0/8",
                "remove 10.1.0.0/16",
                "add host:db1",
                "add 192.0.2.10-192.0.2.20",
                "add ipset:office",
                "add autogroup:internet",
            ],
        },
        acls=[acl(["ipset:office"], ["ipset:prod:*"])],
    )
    assert errors(doc) == []


def test_ipset_targets() -> None:
    doc = policy(
        ipsets={"ipset:x": ["add tag:web", "add host:nope", "remove group:eng", "add ipset:y"]}
    )
    assert messages(doc) == [
        'ipsets["ipset:x"]: "tag:web": an ipset holds IPs, CIDRs, IP ranges, host:<name>, '
        "autogroup:internet or other ipsets",
        'ipsets["ipset:x"]: host not found: "nope"',
        'ipsets["ipset:x"]: "group:eng": an ipset holds IPs, CIDRs, IP ranges, host:<name>, '
        "autogroup:internet or other ipsets",
        'ipsets["ipset:x"]: ipset not found: "ipset:y"',
    ]


def test_bare_targets_only_when_nothing_is_removed() -> None:
    doc = policy(ipsets={"ipset:x": ["10.0.0.0/8", "remove 10.1.0.0/16"]})
    assert messages(doc) == [
        'ipsets["ipset:x"]: "10.0.0.0/8": write "add 10.0.0.0/8" when the ipset also removes'
    ]


def test_ipset_cycles() -> None:
    doc = policy(
        ipsets={
            "ipset:a": ["add ipset:b"],
            "ipset:b": ["add 10.0.0.0/8", "add ipset:a"],
            "ipset:self": ["add ipset:self"],
        }
    )
    sm = source_map(("ipsets", "ipset:b", 1))
    problems = errors(doc, sm)
    assert [p.message for p in problems] == [
        'ipsets["ipset:b"]: "ipset:a": ipset references are circular '
        "(ipset:a -> ipset:b -> ipset:a)",
        'ipsets["ipset:self"]: "ipset:self": ipset references are circular '
        "(ipset:self -> ipset:self)",
    ]
    assert problems[0].location == Location(FILE, 10, 5)


def test_undefined_ipset_in_rules() -> None:
    doc = policy(acls=[acl(["ipset:nope"], ["*:*"])])
    assert messages(doc) == ['src=ipset not found: "ipset:nope"']


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("node:os IN ['macos', 'linux']", Condition("node:os", "IN", ("macos", "linux"))),
        ("node:os NOT IN ['windows']", Condition("node:os", "NOT IN", ("windows",))),
        ("node:tsVersion >= '1.40'", Condition("node:tsVersion", ">=", "1.40")),
        ("node:tsReleaseTrack == 'stable'", Condition("node:tsReleaseTrack", "==", "stable")),
        ("custom:score > 50", Condition("custom:score", ">", 50)),
        ("ip:country != 'US'", Condition("ip:country", "!=", "US")),
        ("custom:managed IS SET", Condition("custom:managed", "IS SET", None)),
        ("falcon:ztaScore NOT SET", Condition("falcon:ztaScore", "NOT SET", None)),
        ("node:tsStateEncrypted == true", Condition("node:tsStateEncrypted", "==", True)),
    ],
)
def test_parse_condition(text: str, condition: Condition) -> None:
    assert parse_condition(text) == condition


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("os == 'macos'", "a condition starts with an attribute such as node:os"),
        ("node:oss == 'macos'", 'unknown attribute "node:oss" (did you mean "node:os"?)'),
        ("node:os ~= 'macos'", "expected an operator after node:os"),
        ("node:os == macos", "macos is not a value; quote strings, e.g. 'macos'"),
        ("node:os IN 'macos'", "expected a list like ['a', 'b'], got 'macos'"),
        (
            "node:os > 'macos'",
            "> compares numbers, or versions of node:osVersion and node:tsVersion",
        ),
        ("custom:x IS SET 'y'", "IS SET takes no value"),
    ],
)
def test_parse_condition_errors(text: str, message: str) -> None:
    with pytest.raises(PostureSyntaxError) as e:
        parse_condition(text)
    assert str(e.value).startswith(message)


def test_postures_section_and_default_src_posture() -> None:
    doc = policy(
        postures={
            "posture:mac": ["node:os == 'macos'", "node:tsVersion >= '1.50'"],
            "posture:bad": ["node:os == macos"],
            "latest": ["node:os == 'linux'"],
        },
        defaultSrcPosture=["posture:mac", "posture:nope"],
    )
    sm = source_map(("postures", "posture:bad", 0))
    problems = errors(doc, sm)
    assert [p.message for p in problems] == [
        'postures["posture:bad"]: "node:os == macos": macos is not a value; quote strings, '
        "e.g. 'macos'",
        "postures[\"latest\"]: names must start with 'posture:'",
        'defaultSrcPosture: posture not found: "posture:nope"',
    ]
    assert problems[0].location == Location(FILE, 10, 5)
