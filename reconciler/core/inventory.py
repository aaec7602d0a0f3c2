"""The tailnet inventory a policy is evaluated against: users and devices.

core/ (the lowest layer) (stdlib only). Backends return these types from `list_users` and
`list_devices`; the engine resolves selectors against them; inventory files and the
`topology` object of a conformance record load into them (see `reconciler.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The id of a device the tailnet does not have, made up for an identity a policy names
# (`engine.inventory_io.with_named_identities`): counts of real devices leave it out.
SYNTHETIC_ID = "synthetic"

ROLES = ("owner", "admin", "member", "it-admin", "network-admin", "billing-admin", "auditor")


@dataclass(frozen=True)
class User:
    login: str  # "alice@example.com"; the policy names users by this
    role: str = "member"
    id: str = ""
    display_name: str = ""
    shared: bool = False  # a user from another tailnet who accepted a share (autogroup:shared)


@dataclass(frozen=True)
class Device:
    name: str  # short host name, as `devices:` in the desired state names it
    ipv4: str | None = None
    ipv6: str | None = None
    user: str | None = None  # owning login; tagged devices are owned by their tags
    tags: tuple[str, ...] = ()
    approved_routes: tuple[str, ...] = ()
    advertised_routes: tuple[str, ...] = ()
    posture: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    id: str = ""  # control-plane node id ("n123CNTRL"), used to set tags
    shared: bool = False  # shared into this tailnet from another one

    @property
    def tagged(self) -> bool:
        return bool(self.tags)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a)


@dataclass(frozen=True)
class Inventory:
    users: tuple[User, ...] = ()
    devices: tuple[Device, ...] = ()
    source: str = "synthetic"  # "synthetic", a file path, or a backend identity

    def user(self, login: str) -> User | None:
        return next((u for u in self.users if u.login == login), None)

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    @property
    def domains(self) -> frozenset[str]:
        """The domains associated with the tailnet, for `user:*@domain` checks.

        Tailscale associates the owner's domain, not every member's: a recording rejects
        `localpart:*@example.org` although a member signs in at example.org. So the
        owners' login domains count; with no owner known, every own member's does.
        """
        own = [u for u in self.users if "@" in u.login and not u.shared]
        owners = [u for u in own if u.role == "owner"] or own
        return frozenset(u.login.rsplit("@", 1)[1] for u in owners)
