"""Shapes of `tests` and `sshTests` entries (policy-semantics.md 2.7, 2.8)."""

from __future__ import annotations

import pytest

from reconciler.core.problems import Problem
from reconciler.core.source import Location

from .helpers import FILE, errors, messages, policy, source_map


def test(
    src: str, accept: list[str] | None = None, deny: list[str] | None = None, **extra: object
) -> dict[str, object]:
    entry: dict[str, object] = {"src": src, **extra}
    if accept is not None:
        entry["accept"] = accept
    if deny is not None:
        entry["deny"] = deny
    return entry


test.__test__ = False  # type: ignore[attr-defined]  # a builder, not a pytest test


def test_valid_tests() -> None:
    doc = policy(
        tests=[
            test(
                "alice@example.com",
                ["tag:web:80", "db1:5432", "100.64.0.1:22"],
                ["[fd7a:115c:a1e0::1]:22", "group:eng:443"],
            ),
            test("tag:ci", ["tag:db:0"], proto="icmp"),
            test("group:eng", deny=["198.51.100.7:22"], proto="6"),
            test("db1", ["svc:web:443"]),
            {"user": "alice@example.com", "allow": ["tag:web:80"]},
        ]
    )
    assert errors(doc) == []


def test_cidr_destination_message_and_location() -> None:
    doc = policy(
        tests=[
            test("alice@example.com", ["tag:web:80"]),
            test("alice@example.com", ["tag:web:80"]),
            test("alice@example.com", ["tag:web:80", "10.0.0.0/8:22"]),
        ]
    )
    sm = source_map(("tests", 2, "accept", 1))
    assert errors(doc, sm) == [
        Problem(
            'tests[2]: "10.0.0.0/8:22": a test destination must be a single host, not a CIDR',
            Location(FILE, 10, 5),
            code="test-shape",
        )
    ]


@pytest.mark.parametrize(
    ("dst", "message"),
    [
        ("db1:*", 'tests[0]: "db1:*": a test destination needs a single port, not "*"'),
        (
            "db1:80,443",
            'tests[0]: "db1:80,443": a test destination needs a single port, not "80,443"',
        ),
        ("db1:80-90", 'tests[0]: "db1:80-90": a test destination needs a single port, not "80-90"'),
        ("db1:http", 'tests[0]: "db1:http": invalid port "http", expected a number 0-65535'),
        ("db1:-1", 'tests[0]: "db1:-1": invalid port "-1", expected a number 0-65535'),
        ("db1:99999", 'tests[0]: "db1:99999": invalid port "99999", expected a number 0-65535'),
        ("db1", 'tests[0]: "db1": a test destination needs a port, e.g. db1:22'),
        (
            "100.64.0.16/32:22",
            'tests[0]: "100.64.0.16/32:22": a test destination must be a single host, not a CIDR',
        ),
        (
            "office:22",
            'tests[0]: "office:22": host "office" is the CIDR 10.1.0.0/16; a test '
            "destination must be a single host",
        ),
        (
            "autogroup:internet:443",
            'tests[0]: "autogroup:internet:443": "autogroup:internet" '
            "is not a valid test destination; use a user, group, tag, "
            "host, IP or svc:",
        ),
        (
            "autogroup:self:22",
            'tests[0]: "autogroup:self:22": "autogroup:self" is not a valid '
            "test destination; use a user, group, tag, host, IP or svc:",
        ),
        ("tag:phantom:22", 'tests[0]: "tag:phantom:22": tag not found: "tag:phantom"'),
        ("phantom:80", 'tests[0]: "phantom:80": host not found: "phantom"'),
    ],
)
def test_invalid_destinations(dst: str, message: str) -> None:
    assert messages(policy(tests=[test("alice@example.com", [dst])])) == [message]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"accept": ["db1:22"]}, "tests[0]: src must be specified"),
        (test("", ["db1:22"]), "tests[0]: src must be specified"),
        (
            test("*", ["db1:22"]),
            'tests[0]: src "*" is not allowed: a test src must be a '
            "specific user, group, tag, host or IP",
        ),
        (
            test("10.0.0.0/8", ["db1:22"]),
            'tests[0]: src "10.0.0.0/8" is not allowed: a test '
            "src must be a specific user, group, tag, host or IP",
        ),
        (
            test("tag:phantom", ["db1:22"]),
            'tests[0]: src "tag:phantom": tag not found: "tag:phantom"',
        ),
        (test("alice@example.com"), 'tests[0]: a test needs at least one "accept" or "deny" entry'),
        (
            test("alice@example.com", [], []),
            'tests[0]: a test needs at least one "accept" or "deny" entry',
        ),
        (
            test("alice@example.com", ["db1:22"], proto="tpc"),
            'tests[0]: proto "tpc": unknown '
            "protocol; use a number 1-255 or one of ah, egp, esp, fc, gre, icmp, igmp, igp, "
            "ip-in-ip, ipv4, ipv6-icmp, sctp, tcp, udp",
        ),
        (
            {"src": "alice@example.com", "user": "bob@example.com", "accept": ["db1:22"]},
            'tests[0]: only one of "src" and "user" (its legacy name) may be specified',
        ),
    ],
)
def test_invalid_entries(entry: dict[str, object], message: str) -> None:
    assert messages(policy(tests=[entry])) == [message]


def ssh_test(src: str, dst: list[str], **lists: list[str]) -> dict[str, object]:
    return {"src": src, "dst": dst, **lists}


def test_valid_ssh_tests() -> None:
    doc = policy(
        sshTests=[
            ssh_test("alice@example.com", ["tag:web", "tag:web"], accept=["root"]),
            ssh_test("100.64.0.1", ["db1", "100.64.0.10"], check=["root"], deny=["admin"]),
            ssh_test("tag:ci", ["alice@example.com", "group:eng"], deny=["root"]),
        ]
    )
    assert errors(doc) == []


@pytest.mark.parametrize(
    ("dst", "message"),
    [
        ("100.64.0.0/24", 'SSH tests dst contains disallowed element "100.64.0.0/24"'),
        ("autogroup:internet", 'SSH tests dst contains disallowed element "autogroup:internet"'),
        ("tag:web:22", 'SSH tests dst contains unknown tag "tag:web:22"'),
        ("tag:phantom", 'SSH tests dst contains unknown tag "tag:phantom"'),
        (
            "fd7a:115c:a1e0::10",
            'sshTests[0]: dst "fd7a:115c:a1e0::10": Tailscale rejects a '
            "bare IPv6 address as an SSH test dst (test(s) failed); use the device's IPv4, user "
            "or tag",
        ),
        ("phantom", 'sshTests[0]: dst "phantom": host not found: "phantom"'),
    ],
)
def test_invalid_ssh_test_destinations(dst: str, message: str) -> None:
    doc = policy(sshTests=[ssh_test("alice@example.com", [dst], accept=["root"])])
    sm = source_map(("sshTests", 0, "dst", 0))
    assert [(p.message, p.location) for p in errors(doc, sm)] == [(message, Location(FILE, 10, 5))]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            ssh_test("alice@example.com", ["tag:web"]),
            'sshTests[0]: an SSH test needs at least one "accept", "check" or "deny" user',
        ),
        (
            ssh_test("alice@example.com", ["tag:web"], accept=[""]),
            'sshTests[0]: accept: user "" is not valid',
        ),
        (
            ssh_test("alice@example.com", ["tag:web"], accept=["root"], deny=["root"]),
            'sshTests[0]: "root" is both allowed and denied; the test can never pass',
        ),
        (
            ssh_test("alice@example.com", [], accept=["root"]),
            "sshTests[0]: an SSH test needs at least one dst",
        ),
        (ssh_test("", ["tag:web"], accept=["root"]), "sshTests[0]: src must be specified"),
    ],
)
def test_invalid_ssh_tests(entry: dict[str, object], message: str) -> None:
    assert messages(policy(sshTests=[entry])) == [message]


class _Recording(dict):  # type: ignore[type-arg]
    """A policy that notes every top-level key read from it."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> object:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def test_test_shapes_read_only_what_alike_compares() -> None:
    """`diff` skips the base's test checks when `same_test_checks` says the head's
    would find the same: that holds only while the checks read nothing else."""
    from reconciler.validate.context import Context
    from reconciler.validate.tests_shape import READS, check_test_shapes

    doc = _Recording(policy(
        groups={"group:eng": ["a@x.com"]}, tagOwners={"tag:web": []},
        hosts={"db": "10.0.0.0/24", "one": "10.0.0.1"}, ipsets={"ipset:lab": ["10.0.0.0/8"]},
        postures={"posture:ok": ["node:os == 'linux'"]},
        grants=[{"src": ["*"], "dst": ["*"], "ip": ["*"]}],
        tests=[test("group:eng", ["tag:web:22", "db:80", "ipset:lab:1", "group:nope:1",
                                  "tag:wbe:22", "10.0.0.0/8:22"], proto="tcp"),
               test("host:one", deny=["one:22"])],
        sshTests=[{"src": "a@x.com", "dst": ["tag:web", "tag:nope", "10.0.0.0/24"],
                   "accept": ["root"], "deny": ["root"]}]))
    ctx = Context(doc, source_map())
    check_test_shapes(ctx)
    assert ctx.problems  # the checks looked into the definitions, not only the tests
    assert doc.read <= set(READS), doc.read - set(READS)


def test_alike_tells_apart_what_the_checks_read() -> None:
    from reconciler.validate.tests_shape import same_test_checks

    doc = policy(groups={"group:eng": ["a@x.com"]}, tests=[test("group:eng", ["a@x.com:1"])],
                 acls=[{"action": "accept", "src": ["*"], "dst": ["*:*"]}])
    assert same_test_checks(doc, {**doc, "acls": []})  # rules are not read
    assert not same_test_checks(doc, {**doc, "groups": {}})
    assert not same_test_checks(doc, {**doc, "tests": []})
    assert not same_test_checks(doc, {**doc, "hosts": {"h": "10.0.0.1"}})
