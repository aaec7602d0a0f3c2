"""Selector resolution: the src side and the dst side of §2.2, and clear errors."""

from __future__ import annotations

import pytest

from reconciler.core.errors import SelectorError
from reconciler.engine import inventory_from_data
from reconciler.engine.addrset import ALL, INTERNET, TAILNET, AddrSet
from reconciler.engine.resolve import Resolver

INV = inventory_from_data({
    "users": [{"login": "alice@example.com", "role": "owner"},
              {"login": "guest@else.net", "shared": True}],
    "devices": [
        {"name": "a", "ipv4": "100.64.0.1", "ipv6": "fd7a:115c:a1e0::1",
         "user": "alice@example.com"},
        {"name": "g", "ipv4": "100.64.0.2", "user": "guest@else.net"},
        {"name": "r", "ipv4": "100.64.0.3", "tags": ["tag:r"],
         "approved_routes": ["10.1.0.0/16", "0.0.0.0/0", "::/0"]},
    ],
})
POLICY = {
    "tagOwners": {"tag:r": []},
    "groups": {"group:x": ["alice@example.com", "nobody@example.com"]},
    "hosts": {"web": "100.64.0.1", "lan": "192.168.0.0/24"},
    "ipsets": {"ipset:a": ["ipset:b"], "ipset:b": ["ipset:a"],
               "ipset:ok": ["add 10.0.0.0/8", "remove host:lan", "add 1.1.1.1-1.1.1.3"]},
}


@pytest.fixture
def r() -> Resolver:
    return Resolver(POLICY, INV)


def test_wildcard_differs_by_side(r: Resolver) -> None:
    src = r.src("*").addrs
    # tailnet + approved subnet routes (not exit routes) + shared-in devices
    assert src == TAILNET | AddrSet.parse("10.1.0.0/16") | AddrSet.parse("100.64.0.2")
    assert r.dst("*").addrs == ALL
    assert r.src("autogroup:danger-all").addrs == ALL


def test_autogroups(r: Resolver) -> None:
    assert r.src("autogroup:member").addrs.to_strings() == ["100.64.0.1", "fd7a:115c:a1e0::1"]
    assert r.src("autogroup:shared").addrs.to_strings() == ["100.64.0.2"]
    assert r.src("autogroup:owner").addrs == r.src("alice@example.com").addrs
    assert r.src("autogroup:admin").addrs.to_strings() == []
    assert r.src("autogroup:tagged").addrs.to_strings() == ["100.64.0.3"]
    assert r.dst("autogroup:internet").internet and r.dst("autogroup:internet").addrs == INTERNET
    assert r.dst("autogroup:self").self_
    assert r.src("user:*@example.com").addrs == r.src("alice@example.com").addrs
    assert r.src("group:x").addrs == r.src("alice@example.com").addrs  # unknown member: none


def test_hosts_and_ipsets(r: Resolver) -> None:
    assert r.dst("web").addrs.to_strings() == ["100.64.0.1"]  # not the device's IPv6
    assert r.dst("host:lan").addrs.to_strings() == ["192.168.0.0/24"]
    assert r.dst("ipset:ok").addrs.to_strings() == ["1.1.1.1-1.1.1.3", "10.0.0.0/8"]


@pytest.mark.parametrize(("side", "selector", "message"), [
    ("src", "autogroup:self", "not valid on the src side"),
    ("src", "autogroup:internet", "not valid on the src side"),
    ("dst", "autogroup:danger-all", "cannot use autogroup:danger-all as a dst"),
    ("src", "tag:nope", "not defined in tagOwners"),
    ("src", "group:nope", "not defined in groups"),
    ("dst", "nohost", "not defined in hosts"),
    ("dst", "ipset:a", "cannot refer to themselves"),
    ("dst", "ipset:zzz", "not defined in ipsets"),
    ("src", "%bogus%", "invalid address"),
    ("src", "autogroup:bogus", "unknown autogroup"),
])
def test_errors(r: Resolver, side: str, selector: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        getattr(r, side)(selector)


SELECTORS = ["*", "tag:r", "group:x", "group:y", "group:nest", "web", "lan", "ipset:ok",
             "alice@example.com", "autogroup:member", "autogroup:shared", "autogroup:owner",
             "autogroup:self", "autogroup:internet", "100.64.0.0/30", "guest@else.net",
             "tag:gone", "ipset:a", "example.com"]


def _outcome(r: Resolver, selector: str, dst: bool) -> object:
    try:
        found = r.dst(selector) if dst else r.src(selector)
    except SelectorError as e:
        return str(e)
    return (found.addrs, found.self_, found.internet)


@pytest.mark.parametrize("peer_first", [True, False])
def test_a_peer_resolves_what_reads_alike_and_only_that(peer_first: bool) -> None:
    """A resolver sharing its peer's work resolves every selector as one alone would:
    the selectors whose definitions read alike come from the peer (one object, resolved
    once, whichever asks first); a changed group, tag, host or ipset is its own."""
    other = {
        "tagOwners": {"tag:r": [], "tag:gone": []},
        "groups": {"group:x": ["alice@example.com"], "group:y": ["tag:r"],
                   "group:nest": ["group:y"]},
        "hosts": {"web": "100.64.0.3", "lan": "192.168.0.0/24"},
        "ipsets": POLICY["ipsets"],
    }
    mine = {**other, "groups": {**other["groups"], "group:x": ["guest@else.net"]},
            "hosts": POLICY["hosts"]}
    peer = Resolver(other, INV)
    r = Resolver(mine, INV, peer=peer)
    alone = Resolver(mine, INV)
    changed = {"group:x", "web", "ipset:ok", "ipset:a", "group:nest"}
    for dst in (False, True):
        for s in SELECTORS:
            if peer_first:
                _outcome(peer, s, dst)
            assert _outcome(r, s, dst) == _outcome(alone, s, dst), (s, dst)
            mine_found, theirs = _outcome(r, s, dst), _outcome(peer, s, dst)
            if isinstance(mine_found, tuple) and s not in changed:
                assert (r.dst(s) if dst else r.src(s)) is (peer.dst(s) if dst else peer.src(s))
            elif isinstance(mine_found, tuple) and mine_found != theirs:
                assert s in changed
    assert r.identity_devices("group:x") != peer.identity_devices("group:x")


def test_a_peer_over_another_inventory_is_not_asked() -> None:
    other_inv = inventory_from_data({"devices": [{"name": "z", "ipv4": "100.64.9.9",
                                                   "tags": ["tag:r"]}]})
    peer = Resolver(POLICY, other_inv)
    peer.src("tag:r")
    r = Resolver(POLICY, INV, peer=peer)
    assert r.src("tag:r").addrs == AddrSet.parse("100.64.0.3")
    assert r.by_tag is not peer.by_tag
