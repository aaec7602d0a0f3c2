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
