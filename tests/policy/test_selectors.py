"""Classifying alias strings."""

from __future__ import annotations

import ipaddress

import pytest

from reconciler.validate.selectors import (
    Kind,
    SelectorSyntaxError,
    is_valid_host_name,
    parse_selector,
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("*", Kind.WILDCARD, "*"),
        ("alice@example.com", Kind.USER, "alice@example.com"),
        ("bob@github", Kind.USER, "bob@github"),
        (" odin@example.com", Kind.USER, "odin@example.com"),
        ("user:*@example.com", Kind.DOMAIN, "example.com"),
        ("group:eng", Kind.GROUP, "group:eng"),
        ("group:sre@example.com", Kind.GROUP, "group:sre@example.com"),
        ("tag:server ", Kind.TAG, "tag:server"),
        ("autogroup:member", Kind.AUTOGROUP, "autogroup:member"),
        ("db1", Kind.HOST, "db1"),
        ("subnet_a", Kind.HOST, "subnet_a"),
        ("host:db1", Kind.HOST, "db1"),
        ("100.64.0.1", Kind.IP, "100.64.0.1"),
        ("fd7a:115c:a1e0::1", Kind.IP, "fd7a:115c:a1e0::1"),
        ("10.0.0.0/8", Kind.CIDR, "10.0.0.0/8"),
        ("ipset:prod", Kind.IPSET, "ipset:prod"),
        ("svc:web", Kind.SERVICE, "svc:web"),
    ],
)
def test_parse_selector(text: str, kind: Kind, value: str) -> None:
    sel = parse_selector(text)
    assert (sel.kind, sel.value, sel.text) == (kind, value, text.strip())


def test_cidr_keeps_host_bits_like_go() -> None:
    sel = parse_selector("10.0.0.1/8")
    assert sel.kind is Kind.CIDR
    assert sel.network == ipaddress.ip_network("10.0.0.0/8")


def test_ip_range() -> None:
    sel = parse_selector("10.0.0.1-10.0.0.9")
    assert sel.kind is Kind.IP_RANGE
    assert sel.range_ == (ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.9"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%bogus%", '"%bogus%": invalid address'),
        ("10.0.0.0/33", '"10.0.0.0/33": invalid address'),
        ("10.0.0.9-10.0.0.1", '"10.0.0.9-10.0.0.1": invalid IP range'),
        ("user:b*b@example.com", '"user:b*b@example.com": partial wildcards are not supported'),
    ],
)
def test_parse_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorSyntaxError) as e:
        parse_selector(text)
    assert str(e.value).startswith(message)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("db1", True),
        ("web.internal", True),
        ("a@b", False),
        ("100.64.0.1", False),
        ("tag:x", False),
        ("bad name", False),
    ],
)
def test_is_valid_host_name(name: str, ok: bool) -> None:
    assert is_valid_host_name(name) is ok
