"""`with_named_identities`: a real inventory completed with a made-up device for every
identity the policies name that owns none, never clashing with a real device."""

from __future__ import annotations

from reconciler.core.inventory import SYNTHETIC_ID, Device, Inventory, User
from reconciler.engine.inventory_io import names_roles, users_of, with_named_identities

REAL = Inventory(
    users=(User("alice@example.com", role="admin"),),
    devices=(Device("heidi-1", ipv4="100.64.0.1", ipv6="fd7a:115c:a1e0::1",
                    user="alice@example.com"),
             Device("web", ipv4="100.64.0.2", ipv6="fd7a:115c:a1e0::2", tags=("tag:web",))),
    source="tailscale:-@https://api.example")


def test_only_identities_without_a_device_get_one_at_a_free_address() -> None:
    live = {"groups": {"group:sre": ["alice@example.com", "heidi@example.com"]}}
    desired = {"grants": [{"src": ["group:sre"], "dst": ["tag:web", "tag:db"], "ip": ["*"]}]}
    merged = with_named_identities(REAL, live, desired)
    made = [d for d in merged.devices if d.id == SYNTHETIC_ID]
    assert sorted((d.user or "", d.tags) for d in made) == [("", ("tag:db",)),
                                                      ("heidi@example.com", ())]
    real = {a for d in REAL.devices for a in d.addresses}
    assert all(not set(d.addresses) & real for d in made)
    names = [d.name for d in merged.devices]
    assert len(names) == len(set(names))  # "heidi-1" is taken by alice's laptop
    assert merged.user("heidi@example.com") is not None
    assert merged.user("alice@example.com").role == "admin"
    assert merged.source == REAL.source
    # Nothing missing: the very same inventory (its compiled form can be shared).
    assert with_named_identities(REAL, {"acls": [{"src": ["alice@example.com"],
                                                  "dst": ["tag:web:*"]}]}) is REAL


def test_roles_matter_only_where_a_rule_or_test_names_one() -> None:
    assert not names_roles({"tagOwners": {"tag:x": ["autogroup:admin"]}},
                           {"grants": [{"src": ["autogroup:member"], "dst": ["*"]}]})
    assert names_roles({}, {"ssh": [{"src": ["autogroup:it-admin"], "dst": ["tag:x"]}]})


def test_owners_read_off_devices_are_members_and_shared_when_all_theirs_are() -> None:
    devices = [Device("a", ipv4="100.64.0.1", user="a@x.com"),
               Device("b", ipv4="100.64.0.2", user="b@y.com", shared=True),
               Device("t", ipv4="100.64.0.3", tags=("tag:t",))]
    assert users_of(devices) == (User("a@x.com"), User("b@y.com", shared=True))
