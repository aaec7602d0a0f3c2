"""The demo tailnet a new local store starts with, and Tailscale's default policy.

backends/ (fetch and push), data only. May import: `inventory` (the model), stdlib. The
tables are the one place to adjust the demo tailnet so it matches the example
organisation in `policies/`: users in groups eng, sre, data, finance and contractors,
and devices tagged prod, staging, db, ci, monitoring and exit. Addresses are derived
from the row number, so they are stable across runs.

A local target chooses what its store starts with (`seed:` in reconciler.yaml): this
demo tailnet (the default, which fits this checkout's `policies/`), nothing at all
(`empty`), or the users and devices of an inventory file, so a new repository's first
plan speaks of its own people and devices rather than of the example organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.core.inventory import Inventory

# Tailscale's default policy for a new tailnet (allow all, SSH to own devices in check
# mode), comments and all: `If-Match: "ts-default"` matches only while this is stored.
DEFAULT_POLICY = """\
// Example/default ACLs for unrestricted connections.
{
	// Declare static groups of users. Use autogroups for all users or users with a specific role.
	// "groups": {
	//  	"group:example": ["alice@example.com", "bob@example.com"],
	// },

	// Define the tags which can be applied to devices and by which users.
	// "tagOwners": {
	//  	"tag:example": ["autogroup:admin"],
	// },

	// Define access control lists for users, groups, autogroups, tags,
	// Tailscale IP addresses, and subnet ranges.
	"acls": [
		// Allow all connections.
		// Comment this section out if you want to define specific restrictions.
		{"action": "accept", "src": ["*"], "dst": ["*:*"]},
	],

	// Define users and devices that can use Tailscale SSH.
	"ssh": [
		// Allow all users to SSH into their own devices in check mode.
		// Comment this section out if you want to define specific restrictions.
		{
			"action": "check",
			"src":    ["autogroup:member"],
			"dst":    ["autogroup:self"],
			"users":  ["autogroup:nonroot", "root"],
		},
	],

	// Test access rules every time they're saved.
	// "tests": [
	//  	{
	//  		"src": "alice@example.com",
	//  		"accept": ["tag:example"],
	//  		"deny": ["100.101.102.103:443"],
	//  	},
	// ],
}
"""

# (login, role, display name, shared-in from another tailnet). Groups are the policy's
# business (policies/groups.yaml); the team is noted in the display name for reading.
DEMO_USERS: list[tuple[str, str, str, bool]] = [
    ("alice@example.com", "owner", "Alice (eng)", False),
    ("bob@example.com", "admin", "Bob (eng)", False),
    ("carol@example.com", "member", "Carol (eng)", False),
    ("dave@example.com", "member", "Dave (eng)", False),
    ("erin@example.com", "member", "Erin (eng)", False),
    ("frank@example.com", "network-admin", "Frank (sre)", False),
    ("grace@example.com", "member", "Grace (sre)", False),
    ("heidi@example.com", "member", "Heidi (sre)", False),
    ("ivan@example.com", "member", "Ivan (data)", False),
    ("judy@example.com", "member", "Judy (data)", False),
    ("mike@example.com", "member", "Mike (data)", False),
    ("nina@example.com", "billing-admin", "Nina (finance)", False),
    ("oscar@example.com", "auditor", "Oscar (finance)", False),
    ("peggy@example.com", "member", "Peggy (contractors)", False),
    ("quinn@example.com", "member", "Quinn (contractors)", False),
    ("trent@example.com", "it-admin", "Trent (security)", False),
    ("sam@partner.example", "member", "Sam (shared in from a partner)", True),
]

# (name, owner login or None, tags, approved routes, advertised routes, os). A tagged
# device keeps the login that registered it; its identity is its tags.
DEMO_DEVICES: list[tuple[str, str | None, list[str], list[str], list[str], str]] = [
    # One laptop per user, then the servers.
    *[(f"{login.split('@')[0]}-laptop", login, [], [], [], ("macOS", "linux", "windows")[i % 3])
      for i, (login, *_rest) in enumerate(DEMO_USERS)],
    ("judy-phone", "judy@example.com", [], [], [], "iOS"),
    ("prod-web-1", "frank@example.com", ["tag:prod"], [], [], "linux"),
    ("prod-web-2", "frank@example.com", ["tag:prod"], [], [], "linux"),
    ("staging-web-1", "grace@example.com", ["tag:staging"], [], [], "linux"),
    # Databases carry only tag:db: policies/ keeps database access apart from prod and
    # staging access, and a second tag would let prod rules reach the databases.
    ("db-1", "frank@example.com", ["tag:db"], [], [], "linux"),
    ("db-2", "frank@example.com", ["tag:db"], [], [], "linux"),
    ("ci-runner-1", "heidi@example.com", ["tag:ci"], [], [], "linux"),
    ("monitoring-1", "frank@example.com", ["tag:monitoring"], [], [], "linux"),
    ("exit-1", "frank@example.com", ["tag:exit"], ["0.0.0.0/0", "::/0"],
     ["0.0.0.0/0", "::/0"], "linux"),
    ("office-router", "trent@example.com", ["tag:exit"], ["192.168.50.0/24"],
     ["192.168.50.0/24", "10.30.0.0/16"], "linux"),
]


def demo_users() -> list[dict[str, Any]]:
    """The demo users as rows for the store."""
    return [
        {"login": login, "role": role, "display_name": name, "shared": shared}
        for login, role, name, shared in DEMO_USERS
    ]


def demo_devices() -> list[dict[str, Any]]:
    """The demo devices as rows for the store, with stable addresses from the row number."""
    rows = []
    for n, (name, user, tags, approved, advertised, os_name) in enumerate(DEMO_DEVICES, 1):
        rows.append({
            "name": name,
            "user": user,
            "tags": list(tags),
            "ipv4": f"100.64.0.{n}",
            "ipv6": f"fd7a:115c:a1e0::{n:x}",
            "approved_routes": list(approved),
            "advertised_routes": list(advertised),
            "posture": {"node:os": os_name.lower(), "node:tsReleaseTrack": "stable"},
            "os": os_name,
        })
    return rows


@dataclass(frozen=True)
class Seed:
    """What a new local store starts with: user and device rows, and where they came from."""

    source: str  # "demo", "empty" or the inventory file's path, for messages
    users: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)


def demo_seed() -> Seed:
    return Seed("demo", demo_users(), demo_devices())


def empty_seed() -> Seed:
    return Seed("empty")


def seed_from_inventory(inventory: Inventory, source: str) -> Seed:
    """Store rows for an inventory file's users and devices. Every device's owner
    becomes a user, since the store (like Tailscale) has no device of an unknown user."""
    users = [{"login": u.login, "role": u.role, "display_name": u.display_name
              or u.login.split("@")[0], "shared": u.shared} for u in inventory.users]
    known = {u["login"] for u in users}
    devices = []
    for d in inventory.devices:
        if d.user and d.user not in known:
            known.add(d.user)
            users.append({"login": d.user, "role": "member",
                          "display_name": d.user.split("@")[0], "shared": False})
        devices.append({
            "name": d.name,
            "user": d.user,
            "tags": list(d.tags),
            "ipv4": d.ipv4,
            "ipv6": d.ipv6,
            "approved_routes": list(d.approved_routes),
            "advertised_routes": list(d.advertised_routes),
            "posture": dict(d.posture),
            "os": str(d.posture.get("node:os") or "linux"),
        })
    return Seed(source, users, devices)
