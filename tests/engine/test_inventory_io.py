"""Inventory files (native YAML/JSON and conformance topology) and synthetic inventories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.errors import InventoryError
from reconciler.engine import load_inventory, synthetic_inventory
from tests.engine.conformance import records

NATIVE = """\
users:
  - {login: alice@example.com, role: admin}
  - {login: bob@partner.com, shared: true}
devices:
  - name: laptop
    ipv4: 100.64.0.1
    ipv6: fd7a:115c:a1e0::1
    user: alice@example.com
    posture: {"node:os": linux}
  - name: router
    ipv4: 100.64.0.2
    tags: [tag:router]
    approved_routes: [10.0.0.0/24]
  - name: phone
    ipv4: 100.64.0.3
    user: carol@example.com
"""


def test_native_yaml(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(NATIVE)
    inv = load_inventory(path)
    assert inv.source == str(path)
    assert inv.user("alice@example.com").role == "admin"
    assert inv.user("bob@partner.com").shared
    assert inv.user("carol@example.com") is not None  # a device owner is a member
    laptop = inv.device("laptop")
    assert laptop.posture == {"node:os": "linux"} and laptop.ipv6 == "fd7a:115c:a1e0::1"
    router = inv.device("router")
    assert router.tags == ("tag:router",) and router.user is None
    assert router.approved_routes == ("10.0.0.0/24",)


def test_conformance_topology_as_recorded(tmp_path: Path) -> None:
    record = next(r for r in records("acl") if r["id"] == "acl-a01")
    path = tmp_path / "topo.json"
    path.write_text(json.dumps(record["topology"]))
    inv = load_inventory(path)
    names = sorted(record["topology"]["nodes"])
    assert [d.name for d in inv.devices] == names
    bulbasaur = inv.device("bulbasaur")
    assert bulbasaur.user == "odin@example.com"  # node user "odin" -> that user's login
    assert inv.device("squirtle").approved_routes == ("10.33.0.0/16",)
    # a whole record works too
    path.write_text(json.dumps(record))
    assert load_inventory(path).devices == inv.devices


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("users: [{login: a@x.com, role: wizard}]", "users[0].role"),
        ("devices: [{name: d, ipv4: 100.64.0.1}]", "devices[0]: a device needs a user or tags"),
        ("devices: [{name: d, ipv4: 999.1.1.1, tags: [tag:a]}]", "devices[0].ipv4"),
        ("devices: [{name: d, tags: [tag:a]}]", "needs ipv4 or ipv6"),
        ("devices: [{name: d, ipv4: 100.64.0.1, tags: [tag:a], approved_routes: [x]}]",
         "devices[0].approved_routes[0]"),
        ("devices: {d: 1}", "devices: must be a list"),
        ("hosts: []", "unknown key 'hosts'"),
        ("- just a list", "must be a mapping"),
        ("users: [a: b: c]", "not valid YAML"),
    ],
)
def test_bad_input_names_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as e:
        load_inventory(path)
    assert str(path) in str(e.value) and needle in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read inventory file"):
        load_inventory(tmp_path / "nope.yaml")


def test_synthetic_inventory_is_deterministic_and_complete() -> None:
    policy = {
        "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
        "tagOwners": {"tag:web": ["group:eng"], "tag:db": []},
        "acls": [{"action": "accept", "src": ["carol@example.com"], "dst": ["tag:web:80"]}],
        "tests": [{"src": "dave@example.com", "accept": ["tag:db:5432", "erin@example.com:22"]}],
    }
    inv = synthetic_inventory(policy)
    logins = [u.login for u in inv.users]
    assert logins == sorted(["alice@example.com", "bob@example.com", "carol@example.com",
                             "dave@example.com", "erin@example.com"])
    tagged = {d.tags[0] for d in inv.devices if d.tags}
    assert tagged == {"tag:web", "tag:db"}
    assert len({d.ipv4 for d in inv.devices}) == len(inv.devices) == 7
    assert all(d.ipv4.startswith("100.64.") and d.ipv6.startswith("fd7a:115c:a1e0::")
               for d in inv.devices)
    assert synthetic_inventory(policy) == inv


def _every_string(value: object) -> list[str]:
    """The plain walk `synthetic_inventory` once made: every string, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_every_string(k), *_every_string(v))]
    if isinstance(value, list):
        return [s for v in value for s in _every_string(v)]
    return []


def test_synthetic_inventory_names_what_a_plain_walk_finds() -> None:
    """Collected once per distinct text, the identities are those of every string: a
    login and a tag in one text ("tag:x@y" is neither), nested lists, keys, and values
    that are no strings."""
    policy = {
        "groups": {"group:a": ["ann@example.com", "ann@example.com", " bo@example.com "]},
        "tagOwners": {"tag:web": ["ann@example.com"], "tag:x@example.com": []},
        "grants": [{"src": ["tag:ci", "cy@example.com:22"], "dst": ["*"], "ip": [22, None],
                    "app": {"example.com/cap": [{"k": ["dee@example.com", True, 1.5]}]}}],
        "tests": [{"src": "tag:db:5432", "accept": ["eve@example.com:80", "*@example.com"]}],
        "hosts": {"fred@example.com": "100.64.0.9"},  # not a section naming identities
    }
    from reconciler.engine.inventory_io import _login_of, _tag_of

    texts = [s for section in ("groups", "tagOwners", "acls", "grants", "ssh", "tests",
                               "sshTests", "autoApprovers", "nodeAttrs")
             for s in _every_string(policy.get(section))]
    logins = sorted({x for x in map(_login_of, texts) if x})
    tags = sorted({x for x in map(_tag_of, texts) if x} | {"tag:web", "tag:x@example.com"})
    inv = synthetic_inventory(policy)
    assert [u.login for u in inv.users] == logins
    assert "dee@example.com" in logins and "fred@example.com" not in logins
    assert [d.tags[0] for d in inv.devices if d.tags] == tags


def test_synthetic_for_two_revisions_is_the_inventory_over_both() -> None:
    """Sections equal in both revisions are walked once (`sections_of`); the inventory
    is the one over every section of both, and one only the second names is in it."""
    from reconciler.engine.inventory_io import sections_of, synthetic_for

    before = {"groups": {"group:a": ["ann@example.com"]},
              "acls": [{"action": "accept", "src": ["group:a"], "dst": ["tag:web:80"]}],
              "tests": [{"src": "ann@example.com", "accept": ["tag:web:80"]}]}
    after = {**before, "acls": [{"action": "accept", "src": ["bo@example.com"],
                                 "dst": ["tag:db:5432"]}]}
    both = {k: [before.get(k), after.get(k)] for k in sections_of(before, after)}
    assert synthetic_for(before, after) == synthetic_inventory(both)
    sections = sections_of(before, after)
    assert sections["groups"] == [before["groups"]] and len(sections["acls"]) == 2
    names = {u.login for u in synthetic_for(before, after).users}
    assert names == {"ann@example.com", "bo@example.com"}
    assert {d.tags[0] for d in synthetic_for(before, after).devices if d.tags} == \
        {"tag:web", "tag:db"}
