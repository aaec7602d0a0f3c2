"""Access diff: hand-computed expectations on small policies and inventories."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.core.inventory import Inventory
from reconciler.diff.access import AccessChange, access_diff, to_json
from reconciler.diff.access.naming import cite, entry_citer
from reconciler.engine import inventory_from_data
from reconciler.load.desired import load_desired
from reconciler.plan.planner import names_of
from reconciler.render.access_diff import render_text


def inv(users: dict[str, int], tags: dict[str, int]) -> Inventory:
    """`users`: login -> number of devices; `tags`: tag -> number of devices."""
    devices: list[dict[str, Any]] = []
    n = 0
    for owner, count in [*users.items(), *tags.items()]:
        for k in range(count):
            n += 1
            d: dict[str, Any] = {"name": f"{owner.split('@')[0].replace('tag:', '')}-{k}",
                                 "ipv4": f"100.64.0.{n}", "ipv6": f"fd7a:115c:a1e0::{n:x}"}
            if owner.startswith("tag:"):
                d["tags"] = [owner]
            else:
                d["user"] = owner
            devices.append(d)
    return inventory_from_data({"users": [{"login": u} for u in users], "devices": devices})


def rows(changes: tuple[AccessChange, ...]) -> set[tuple[str, tuple[str, ...], str, int]]:
    return {(c.src, c.dst, c.ip, c.devices) for c in changes}


GROUPS = {"group:eng": ["alice@example.com", "bob@example.com"],
          "group:ops": ["carol@example.com"]}
OWNERS = {"tag:web": ["group:ops"], "tag:db": ["group:ops"]}
INV = inv({"alice@example.com": 1, "bob@example.com": 2, "carol@example.com": 1},
          {"tag:web": 2, "tag:db": 3})


def test_identical_policies_have_no_changes() -> None:
    policy = {"groups": GROUPS, "tagOwners": OWNERS,
              "grants": [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]}]}
    diff = access_diff(policy, policy, INV)
    assert diff.empty
    assert "no one gains or loses" in render_text(diff)


def test_grant_cross_product_of_sources_destinations_and_ports() -> None:
    before = {"groups": GROUPS, "tagOwners": OWNERS,
              "grants": [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS,
             "grants": [{"src": ["group:eng", "group:ops"], "dst": ["tag:web", "tag:db"],
                         "ip": ["tcp:443", "udp:53"]}]}
    diff = access_diff(before, after, INV)
    # eng had tcp:443 on web already; everything else of the 2x2x2 product is new.
    assert rows(diff.gained) == {
        ("group:eng", ("tag:db",), "tcp:443", 3),
        ("group:eng", ("tag:db", "tag:web"), "udp:53", 5),
        ("group:ops", ("tag:db", "tag:web"), "tcp:443", 5),
        ("group:ops", ("tag:db", "tag:web"), "udp:53", 5),
    }
    assert diff.lost == ()
    assert all(str(r.path) == "('grants', 0)" for c in diff.gained for r in c.rules)
    # And back again: exactly the same statements, as losses.
    back = access_diff(after, before, INV)
    assert rows(back.lost) == rows(diff.gained) and back.gained == ()


def test_acl_destinations_keep_their_own_ports() -> None:
    before = {"groups": GROUPS, "tagOwners": OWNERS, "acls": []}
    after = {"groups": GROUPS, "tagOwners": OWNERS, "acls": [
        {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:80", "tag:db:5432"]},
        {"action": "accept", "src": ["carol@example.com"], "proto": "tcp", "dst": ["tag:web:22"]},
    ]}
    diff = access_diff(before, after, INV)
    assert rows(diff.gained) == {
        ("alice@example.com", ("tag:web",), "80", 2),  # all of Tailscale's default protocols
        ("alice@example.com", ("tag:db",), "5432", 3),  # not 80: no port crossing
        ("carol@example.com", ("tag:web",), "tcp:22", 2),
    }


def test_group_named_only_when_every_member_changes_the_same_way() -> None:
    before = {"groups": GROUPS, "tagOwners": OWNERS,
              "grants": [{"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS,
             "grants": [{"src": ["group:eng", "group:ops"], "dst": ["tag:db"],
                         "ip": ["tcp:5432"]}]}
    diff = access_diff(before, after, INV)
    # alice already had it, so group:eng is not all new: bob is named alone.
    assert rows(diff.gained) == {("bob@example.com", ("tag:db",), "tcp:5432", 3),
                                 ("group:ops", ("tag:db",), "tcp:5432", 3)}


def test_removed_rule_still_covered_by_another_loses_nothing() -> None:
    base = [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:80-90"]}]
    before = {"groups": GROUPS, "tagOwners": OWNERS,
              "grants": [*base, {"src": ["bob@example.com"], "dst": ["tag:web"], "ip": ["tcp:85"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS, "grants": base}
    assert access_diff(before, after, INV).empty


def test_autogroup_self_is_reported_per_user_who_changes_wholly() -> None:
    before = {"groups": GROUPS, "tagOwners": OWNERS, "grants": [
        {"src": ["alice@example.com"], "dst": ["alice@example.com"], "ip": ["tcp:22"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS, "grants": [
        *before["grants"],
        {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["tcp:22"]}]}
    diff = access_diff(before, after, INV)
    # alice reached her own device already; bob (2 devices) and carol gain; nothing else.
    # carol is all of group:ops, so the coarser name is the honest one.
    assert {(c.src, c.dst, c.ip) for c in diff.gained} == {
        ("bob@example.com", ("autogroup:self",), "tcp:22"),
        ("group:ops", ("autogroup:self",), "tcp:22"),
    }
    assert sum(c.devices for c in diff.gained) == 3
    # Without alice's rule, every member changes the same way: one statement.
    bare = {"groups": GROUPS, "tagOwners": OWNERS, "grants": after["grants"][1:]}
    whole = access_diff({"groups": GROUPS, "tagOwners": OWNERS, "grants": []}, bare, INV)
    assert rows(whole.gained) == {("autogroup:member", ("autogroup:self",), "tcp:22", 4)}


def test_ports_left_over_by_other_rules_are_said_as_except() -> None:
    before = {"groups": GROUPS, "tagOwners": OWNERS,
              "grants": [{"src": ["group:ops"], "dst": ["tag:db"], "ip": ["tcp:22", "tcp:443"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS,
             "grants": [*before["grants"], {"src": ["group:ops"], "dst": ["tag:db"],
                                            "ip": ["tcp:*"]}]}
    diff = access_diff(before, after, INV)
    assert [c.ip for c in diff.gained] == ["tcp:* except 22,443"]


def test_hosts_and_non_device_destinations_are_named_by_the_policy() -> None:
    policy: dict[str, Any] = {"groups": GROUPS, "tagOwners": OWNERS,
                              "hosts": {"office": "192.168.1.0/24"}, "grants": []}
    after = {**policy, "grants": [{"src": ["group:ops"], "dst": ["office"], "ip": ["tcp:631"]}]}
    diff = access_diff(policy, after, INV)
    assert rows(diff.gained) == {("group:ops", ("office",), "tcp:631", 0)}
    assert to_json(diff)["gained"][0] == {
        "src": "group:ops", "dst": ["office"], "ip": "tcp:631", "proto": "tcp", "ports": "631",
        "devices": 0, "rules": [{"path": "grants[0]", "location": None, "name": None}]}


def _tree(root: Path) -> None:
    (root / "policies").mkdir()
    (root / "policies" / "groups.yaml").write_text(
        "groups:\n"
        "  group:sre:\n"
        "    - frank@example.com\n"
        "    - {user: dave@example.com, expires: 2026-12-01, reason: on call}\n"
        "tagOwners:\n"
        "  tag:prod: [group:sre]\n")
    (root / "policies" / "acls.yaml").write_text(
        "grants:\n"
        "  - name: sre-prod\n"
        "    src: [group:sre]\n"
        "    dst: [tag:prod]\n"
        "    ip: [tcp:22]\n")


def test_expiring_group_member_loses_access_with_the_rule_cited(tmp_path: Path) -> None:
    _tree(tmp_path)
    before = load_desired(tmp_path, now=datetime(2026, 11, 20, tzinfo=timezone.utc))
    after = load_desired(tmp_path, now=datetime(2026, 12, 2, tzinfo=timezone.utc))
    diff = access_diff(before.policy, after.policy, before_sources=before.sources,
                       after_sources=after.sources)
    assert diff.gained == ()
    assert rows(diff.lost) == {("dave@example.com", ("tag:prod",), "tcp:22", 1)}
    (change,) = diff.lost
    assert [str(r) for r in change.rules] == ["grants[0] at policies/acls.yaml:2"]
    # Cited by name, as plan and diff cite it (the name is in the before state's metadata).
    named = cite(diff, lost=entry_citer(before.sources, names_of(before)))
    assert render_text(named) == (
        "Access changes:\n"
        "  - dave@example.com loses tcp:22 on tag:prod (1 device)  "
        '[grants["sre-prod"] at policies/acls.yaml:2]\n'
        "Access: 0 gained, 1 lost.\n")


def test_a_destination_of_the_other_address_family_is_not_said_to_be_reached() -> None:
    # Found by tests/access/test_access_diff_property.py: a v4 subnet was said to gain
    # access to an IPv6 range (and a rule that allows nothing, to gain "all access").
    before = {"tagOwners": OWNERS, "grants": []}
    after = {"tagOwners": OWNERS, "hosts": {"v6lab": "fd00::/8"}, "grants": [
        {"src": ["10.0.0.0/8"], "dst": ["tag:web", "v6lab"], "ip": ["tcp:443"]},
        {"src": ["192.168.0.0/16"], "dst": ["fd00::/8"], "ip": ["*"]}]}
    diff = access_diff(before, after, INV)
    assert rows(diff.gained) == {("10.0.0.0/8", ("tag:web",), "tcp:443", 2)}
    assert rows(access_diff(after, before, INV).lost) == rows(diff.gained)


def test_a_user_named_in_the_diff_stands_for_their_shared_in_devices_too() -> None:
    # Found by the property test: b@x.com's own device lost access while the one shared
    # in kept it, and the diff said "b@x.com" (which the policy reads as both devices).
    from reconciler.core.inventory import Device, User

    inventory = Inventory(users=(User("a@x.com"), User("b@x.com")), devices=(
        Device("laptop", "100.64.0.1", "fd7a:115c:a1e0::1", user="a@x.com"),
        Device("b-home", "100.64.0.2", "fd7a:115c:a1e0::2", user="b@x.com", shared=True),
        Device("b-work", "100.64.0.3", "fd7a:115c:a1e0::3", user="b@x.com")))
    before = {"grants": [{"src": ["a@x.com"], "dst": ["b@x.com"], "ip": ["tcp:22"]}]}
    after = {"grants": [{"src": ["a@x.com"], "dst": ["autogroup:shared"], "ip": ["tcp:22"]}]}
    diff = access_diff(before, after, inventory)
    assert rows(diff.lost) == {("a@x.com", ("100.64.0.3 (b-work)",), "tcp:22", 1)}
    assert diff.gained == ()


def test_a_device_that_gains_a_tag_gains_what_the_tag_reaches_and_loses_its_owners() -> None:
    policy = {"groups": GROUPS, "tagOwners": OWNERS, "grants": [
        {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
        {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
        {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["tcp:22"]}]}
    # carol's only device (carol-0) becomes a web server.
    diff = access_diff(policy, policy, INV, retag=[("carol-0", "", ["tag:web"])])
    assert rows(diff.gained) == {
        ("100.64.0.4 (carol-0)", ("tag:db",), "tcp:5432", 3),
        # alice and bob: every member once carol's device is tagged, so the coarser name
        ("autogroup:member", ("100.64.0.4 (carol-0)",), "tcp:443", 1)}
    assert rows(diff.lost) == {("group:ops", ("autogroup:self",), "tcp:22", 1)}
    assert all(r.label == "devices.carol-0.tags" for c in diff.gained + diff.lost
               for r in c.rules if r.path[0] == "devices")
    assert diff.notes == ("carol-0 is re-tagged tag:web (was untagged): its access after is "
                          "with its new tags",)
    # Tags that do not move change nothing; a device not in the inventory says so.
    same = access_diff(policy, policy, INV, retag=[("web-0", "", ["tag:web"]),
                                                   ("nowhere", "", ["tag:db"])])
    assert same.empty and same.notes == (
        "device nowhere is not in the inventory: the access it gains or loses with its new "
        "tags is not shown",)


def test_addresses_that_are_no_device_cite_the_rule_of_each_statement() -> None:
    """"Addresses that are not tailnet devices" stands for other addresses in other
    statements (the tailnet's free addresses gain tcp:22 through `*`, the rest of the
    internet gains udp:22 through autogroup:danger-all): each statement still cites the
    rule it comes from. Found by the property test (a statement citing no rule)."""
    from reconciler.core.inventory import Device, User

    inventory = Inventory(
        users=(User(login="a@x.com", role="admin"),),
        devices=(Device(name="n0", ipv4="100.64.0.1", ipv6=None, user="a@x.com",
                        id="id-n0", shared=True),), source="generated")
    common = {"hosts": {"lab": "10.0.0.0/24"},
              "postures": {"posture:linux": ["node:os == 'linux'"]}}
    before = {**common, "defaultSrcPosture": ["posture:linux"],
              "acls": [{"action": "accept", "src": ["a@x.com"], "dst": ["a@x.com:22"]}],
              "grants": [{"src": ["fd7a:115c:a1e0::1"], "dst": ["a@x.com"], "ip": ["tcp:22"]},
                         {"src": ["*"], "dst": ["a@x.com"], "ip": ["udp:*"]}]}
    after = {**common, "grants": [], "acls": [
        {"action": "accept", "src": ["*"], "dst": ["a@x.com:22"]},
        {"action": "accept", "src": ["autogroup:danger-all"], "dst": ["a@x.com:22"],
         "proto": "udp"}]}
    gained = access_diff(before, after, inventory).gained
    loose = [c for c in gained if c.src == "(addresses that are not tailnet devices)"]
    assert {c.proto for c in loose} == {"tcp", "udp"}
    tcp = next(c for c in loose if c.proto == "tcp")
    assert [r.label for r in tcp.rules] == ["acls[0]"]
    assert all(c.rules for c in gained)


def test_live_citer_reads_the_live_locations_only_for_an_edit_outside_git() -> None:
    """Entries found in a known revision are cited there without parsing the live text;
    one found nowhere is cited at its live line, the live locations read once."""
    from reconciler.core.source import Location, SourceMap
    from reconciler.diff.access.model import LIVE_POLICY, RuleRef
    from reconciler.diff.access.naming import live_citer

    grant = {"src": ["a@x.com"], "dst": ["*"], "ip": ["*"]}
    edited = {"src": ["b@x.com"], "dst": ["*"], "ip": ["22"]}
    live = {"grants": [grant, edited, edited]}
    known_sources = SourceMap()
    known_sources.set(("grants", 0), Location("policies/a.yaml", 3, 3))
    live_sources = SourceMap()
    for i in range(3):
        live_sources.set(("grants", i), Location("<live>", 10 + i, 5))
    asked: list[int] = []

    def sources() -> SourceMap:
        asked.append(1)
        return live_sources

    citer = live_citer(live, sources, [({"grants": [grant]}, known_sources,
                                        {("grants", 0): "web"})])
    first = citer(RuleRef(("grants", 0)))
    assert (first.location, first.name) == (Location("policies/a.yaml", 3, 3), "web")
    assert asked == []
    assert citer(RuleRef(("grants", 1))).location == Location(LIVE_POLICY, 11, 5)
    assert citer(RuleRef(("grants", 2))).location == Location(LIVE_POLICY, 12, 5)
    assert asked == [1]
