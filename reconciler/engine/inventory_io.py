"""Inventory files and synthetic inventories: where the engine's users and devices come from.

engine/ (imports `reconciler.core.inventory`, `reconciler.core.errors`,
`reconciler.engine.addrset`, json and yaml). Two file formats load into `Inventory`:

* the `topology` object of a conformance record, exactly as recorded
  (``{"users": [{"id", "name", "email"}], "nodes": {name: {"hostname", "tags", "ipv4",
  "ipv6", "user", "routable_ips", "approved_routes"}}}``; a node's ``user`` is a user's
  ``name``), or a whole record that holds one under ``topology``;
* the native format (YAML or JSON)::

      users:
        - {login: alice@example.com, role: admin}     # role defaults to member
        - {login: bob@partner.com, shared: true}      # autogroup:shared
      devices:
        - name: laptop-alice
          ipv4: 100.64.0.1
          ipv6: fd7a:115c:a1e0::1
          user: alice@example.com                     # or: tags: [tag:web]
          approved_routes: [10.0.0.0/24]
          advertised_routes: [10.0.0.0/24]
          posture: {"node:os": linux, "node:tsVersion": "1.62.0"}

A user's `role` is what role autogroups (autogroup:admin, ...) stand for; a device's
addresses are what a host alias at that address reaches (``hosts: {db: 100.64.0.22}``
with a `tag:db` device at 100.64.0.22 makes `db:5432` that tagged device).

`synthetic_inventory(policy)` makes one device per user login and per tag the policy
names, with deterministic addresses, for running tests without a real tailnet: its
users hold no role and no device sits at a host alias's address, so a test relying on
either fails there (and says so: `tests_runner`).
`with_named_identities(inventory, *policies)` completes a real tailnet's inventory the
same way, for the identities the policies name that own no device in it, so a plan
still sees what they gain or lose (their devices carry `SYNTHETIC_ID`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler.core.errors import AddressError, InventoryError
from reconciler.core.inventory import ROLES, SYNTHETIC_ID, Device, Inventory, User
from reconciler.engine.addrset import AddrSet, parse_ip

_PREFIXES = ("group:", "tag:", "autogroup:", "user:", "localpart:", "ipset:", "svc:", "posture:")


DEVICE_KEYS = frozenset({"name", "ipv4", "ipv6", "user", "tags", "approved_routes",
                         "advertised_routes", "posture", "id", "shared"})


def load_inventory(path: Path | str) -> Inventory:
    """Read an inventory file (YAML or JSON, native or conformance-topology format)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InventoryError(f"cannot read inventory file {p}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise InventoryError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})",
                             "Save it as UTF-8, or pass a different file with --inventory.") from e
    kind = "JSON" if p.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise InventoryError(
            f"{p}: not valid {kind}: {e}",
            "Fix the syntax, or pass a different file with --inventory.",
        ) from e
    except ValueError as e:  # an impossible date, an integer past 4,300 digits
        raise InventoryError(f"{p}: a value cannot be read: {str(e).split(';')[0]}",
                             "Fix the value, or pass a different file with --inventory.") from e
    except RecursionError as e:  # both parsers recurse per nesting level
        raise InventoryError(f"{p}: not valid {kind}: nested too deeply",
                             "An inventory needs a few levels; pass a different file.") from e
    return inventory_from_data(data, source=str(p))


def inventory_from_data(data: Any, *, source: str = "inventory") -> Inventory:
    """Build an `Inventory` from already-parsed data in either format."""
    if not isinstance(data, Mapping):
        raise InventoryError(f"{source}: an inventory must be a mapping with users and devices")
    if isinstance(data.get("topology"), Mapping):
        return _from_topology(data["topology"], source)
    if "nodes" in data:
        return _from_topology(data, source)
    return _from_native(data, source)


# --- conformance topology ---------------------------------------------------------------


def _from_topology(topo: Mapping[str, Any], source: str) -> Inventory:
    users_data = _list(topo.get("users", []), source, "users")
    users: list[User] = []
    by_name: dict[str, str] = {}
    for i, u in enumerate(users_data):
        where = f"users[{i}]"
        u = _mapping(u, source, where)
        login = _str(u.get("email") or u.get("login") or u.get("name"), source, f"{where}.email")
        users.append(User(login=login, id=str(u.get("id", "")),
                          display_name=str(u.get("name", ""))))
        if u.get("name"):
            by_name[str(u["name"])] = login
        by_name[login] = login
    nodes = topo.get("nodes") or {}
    if not isinstance(nodes, Mapping):
        raise InventoryError(f"{source}: nodes must be a mapping of node name to node")
    devices: list[Device] = []
    for name in sorted(nodes):
        where = f"nodes.{name}"
        n = _mapping(nodes[name], source, where)
        tags = tuple(_strs(n.get("tags") or [], source, f"{where}.tags"))
        user_name = n.get("user")
        owner = None
        if user_name and not tags:
            owner = by_name.get(str(user_name))
            if owner is None:
                raise InventoryError(f"{source}: {where}.user: unknown user {user_name!r}")
        devices.append(Device(
            name=str(name),
            ipv4=_ip(n.get("ipv4"), source, where, "ipv4"),
            ipv6=_ip(n.get("ipv6"), source, where, "ipv6"),
            user=owner,
            tags=tags,
            approved_routes=_routes(n.get("approved_routes"), source, f"{where}.approved_routes"),
            advertised_routes=_routes(n.get("routable_ips"), source, f"{where}.routable_ips"),
        ))
    return Inventory(users=tuple(users), devices=tuple(devices), source=source)


# --- native format ----------------------------------------------------------------------


def _from_native(data: Mapping[str, Any], source: str) -> Inventory:
    unknown = set(data) - {"users", "devices"}
    if unknown:
        raise InventoryError(
            f"{source}: unknown key {sorted(unknown)[0]!r}",
            "An inventory has `users` and `devices` (or a conformance `topology`).",
        )
    raw_users = _list(data.get("users") or [], source, "users")
    users = _users_fast(raw_users) or _users(raw_users, source)
    logins = {u.login for u in users}
    raw = _list(data.get("devices") or [], source, "devices")
    fast = _devices_fast(raw, source, logins)
    if fast is not None:
        devices, owners = fast
        users.extend(User(login=login) for login in owners)
        return Inventory(users=tuple(users), devices=tuple(devices), source=source)
    devices = []
    seen: set[str] = set()
    for i, d in enumerate(raw):
        where = f"devices[{i}]"
        d = _mapping(d, source, where)
        unknown = d.keys() - DEVICE_KEYS
        if unknown:
            raise InventoryError(f"{source}: {where}: unknown key {sorted(unknown)[0]!r}",
                                 f"A device has {', '.join(sorted(DEVICE_KEYS))}.")
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            name = _str(name, source, f"{where}.name")
        if name in seen:
            raise InventoryError(f"{source}: {where}.name: device {name!r} is listed twice")
        seen.add(name)
        raw_tags = d.get("tags")
        tags = tuple(_strs(raw_tags, source, f"{where}.tags")) if raw_tags else ()
        user = d.get("user")
        if user is not None and not isinstance(user, str):
            raise InventoryError(f"{source}: {where}.user: must be a login string")
        if not tags and not user:
            raise InventoryError(f"{source}: {where}: a device needs a user or tags")
        if user and not tags and user not in logins:
            # An owner not listed under users is still a member; add it so autogroups see it.
            users.append(User(login=user))
            logins.add(user)
        posture = d.get("posture") or {}
        if not isinstance(posture, Mapping):
            raise InventoryError(f"{source}: {where}.posture: must be a mapping of attributes")
        ipv4 = _ip(d.get("ipv4"), source, where, "ipv4")
        ipv6 = _ip(d.get("ipv6"), source, where, "ipv6")
        if not ipv4 and not ipv6:
            raise InventoryError(f"{source}: {where}: a device needs ipv4 or ipv6")
        approved = d.get("approved_routes")
        advertised = d.get("advertised_routes")
        devices.append(Device(
            name=name.strip(), ipv4=ipv4, ipv6=ipv6,
            user=None if tags else user,
            tags=tags,
            approved_routes=_routes(approved, source, f"{where}.approved_routes")
            if approved else (),
            advertised_routes=_routes(advertised, source, f"{where}.advertised_routes")
            if advertised else (),
            posture=dict(posture),
            id=str(d.get("id", "")),
            shared=bool(d.get("shared", False)),
        ))
    return Inventory(users=tuple(users), devices=tuple(devices), source=source)


def _users(raw: list[Any], source: str) -> list[User]:
    users: list[User] = []
    for i, u in enumerate(raw):
        where = f"users[{i}]"
        if isinstance(u, str):
            u = {"login": u}
        u = _mapping(u, source, where)
        role = str(u.get("role", "member"))
        if role not in ROLES:
            raise InventoryError(
                f"{source}: {where}.role: {role!r} is not one of {', '.join(ROLES)}"
            )
        users.append(User(
            login=_str(u.get("login"), source, f"{where}.login"),
            role=role,
            id=str(u.get("id", "")),
            display_name=str(u.get("display_name", "")),
            shared=bool(u.get("shared", False)),
        ))
    return users


def _users_fast(raw: list[Any]) -> list[User] | None:
    """`_users` for users given as dicts with a valid login and role, without the frozen
    dataclass's per-field `__setattr__`; None (use `_users`) for anything else or none."""
    users: list[User] = []
    new = object.__new__
    for u in raw:
        if type(u) is not dict:
            return None
        login = u.get("login")
        role = u.get("role", "member")
        if type(login) is not str or role not in ROLES or type(role) is not str:
            return None
        login = login.strip()
        if not login:
            return None
        user = new(User)
        user.__dict__.update(login=login, role=role, id=str(u.get("id", "")),
                             display_name=str(u.get("display_name", "")),
                             shared=bool(u.get("shared", False)))
        users.append(user)
    return users


def _devices_fast(raw: list[Any], source: str, logins: set[str]
                  ) -> tuple[list[Device], list[str]] | None:
    """`_from_native`'s device loop for well-formed devices, with C-level checks and no
    per-field dataclass overhead; None at the first irregular device, so the exact loop
    (and its error message) takes over. Also returns the owners missing from `users`."""
    devices: list[Device] = []
    owners: list[str] = []
    known = set(logins)
    seen: set[str] = set()
    new = object.__new__
    for d in raw:
        if type(d) is not dict or not d.keys() <= DEVICE_KEYS:
            return None
        raw_name = d.get("name")
        if type(raw_name) is not str or raw_name in seen:
            return None
        seen.add(raw_name)
        name = raw_name.strip()
        if not name:
            return None
        raw_tags = d.get("tags")
        if raw_tags:
            if type(raw_tags) is not list or not all(type(t) is str for t in raw_tags):
                return None
            tags = tuple([t.strip() for t in raw_tags])
            if not all(tags):
                return None
        else:
            tags = ()
        user = d.get("user")
        if (user is not None and type(user) is not str) or (not tags and not user):
            return None
        if user and not tags and user not in known:
            owners.append(user)
            known.add(user)
        posture = d.get("posture") or {}
        ipv4 = d.get("ipv4")
        ipv6 = d.get("ipv6")
        if type(posture) is not dict or (not ipv4 and not ipv6):
            return None
        try:
            ipv4 = _ip(ipv4, source, "")
            ipv6 = _ip(ipv6, source, "")
            approved = d.get("approved_routes")
            advertised = d.get("advertised_routes")
            approved = _routes(approved, source, "") if approved else ()
            advertised = _routes(advertised, source, "") if advertised else ()
        except (AddressError, InventoryError):
            return None
        if not ipv4 and not ipv6:
            return None
        device = new(Device)  # Device(...) given every field, minus frozen __setattr__s
        device.__dict__.update(
            name=name, ipv4=ipv4, ipv6=ipv6, user=None if tags else user, tags=tags,
            approved_routes=approved, advertised_routes=advertised, posture=dict(posture),
            id=str(d.get("id", "")), shared=bool(d.get("shared", False)))
        devices.append(device)
    return devices, owners


# --- value checks -----------------------------------------------------------------------


def _mapping(value: Any, source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InventoryError(f"{source}: {where}: must be a mapping")
    return value


def _list(value: Any, source: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InventoryError(f"{source}: {where}: must be a list")
    return value


def _str(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InventoryError(f"{source}: {where}: must be a non-empty string")
    return value.strip()


def _strs(value: Any, source: str, where: str) -> list[str]:
    return [_str(v, source, f"{where}[{i}]") for i, v in enumerate(_list(value, source, where))]


def _ip(value: Any, source: str, where: str, key: str | None = None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InventoryError(f"{source}: {where}{'.' + key if key else ''}: "
                             "must be an IP address string")
    try:
        parse_ip(value)
    except AddressError as e:
        raise InventoryError(f"{source}: {where}{'.' + key if key else ''}: {e.summary}") from e
    return value.strip()


def _routes(value: Any, source: str, where: str) -> tuple[str, ...]:
    if not value:
        return ()
    routes = _strs(value, source, where)
    for i, r in enumerate(routes):
        try:
            AddrSet.parse(r)
        except AddressError as e:
            raise InventoryError(f"{source}: {where}[{i}]: {e.summary}") from e
    return tuple(routes)


# --- synthetic inventory ----------------------------------------------------------------


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _collect(value: Any, out: set[str]) -> None:
    """Every string in `value` (keys included) into `out`; `_strings`, without a
    generator frame per level (a large policy holds some 10^5 strings), and with the
    exact type tests first (`isinstance` against `Mapping` is an ABC check)."""
    kind = type(value)
    if kind is str or isinstance(value, str):
        out.add(value)
        return
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out.update(k for k in value if isinstance(k, str))
        items: Iterable[Any] = value.values()
    elif kind is list or isinstance(value, list):
        items = value
    else:
        return
    for v in items:
        kind = type(v)
        if kind is str:
            out.add(v)
        elif kind is dict or kind is list:
            _collect(v, out)
        elif isinstance(v, str):
            out.add(v)
        elif v is not None and not isinstance(v, (bool, int, float)):
            _collect(v, out)


def _login_of(text: str) -> str | None:
    s = text.strip()
    if "@" not in s or s.startswith(_PREFIXES):
        return None
    host = s.split(":", 1)[0]  # "alice@example.com:22" in ACL dsts and tests
    local, _, domain = host.partition("@")
    return host if local and domain and "*" not in host else None


def _tag_of(text: str) -> str | None:
    s = text.strip()
    if not s.startswith("tag:"):
        return None
    name = s[4:].split(":", 1)[0]
    return f"tag:{name}" if name else None


_SECTIONS = ("groups", "tagOwners", "acls", "grants", "ssh", "tests", "sshTests",
             "autoApprovers", "nodeAttrs")
# Where a selector decides who reaches what (tagOwners and nodeAttrs do not).
_ACCESS_SECTIONS = ("acls", "grants", "ssh", "tests", "sshTests")


def named_identities(*policies: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(logins, tags) named anywhere in the policies (see `synthetic_inventory`)."""
    logins: set[str] = set()
    tags: set[str] = set()
    for policy in policies:
        owners = policy.get("tagOwners")
        if isinstance(owners, Mapping):
            tags.update(k.strip() for k in owners
                        if isinstance(k, str) and k.strip().startswith("tag:"))
    texts: set[str] = set()  # the same selectors recur: parse each text once
    for values in sections_of(*policies).values():
        _collect(values, texts)
    for s in texts:
        if "@" in s:
            login = _login_of(s)
            if login:
                logins.add(login)
        elif "tag:" in s:
            tag = _tag_of(s)
            if tag:
                tags.add(tag)
    return logins, tags


def names_roles(*policies: Mapping[str, Any]) -> bool:
    """Whether a rule or test names a role autogroup (autogroup:admin, ...): only then do
    users' roles change who reaches what."""
    roles = tuple(f"autogroup:{r}" for r in ROLES if r != "member")
    return any(s.strip().startswith(roles) for policy in policies
               for section in _ACCESS_SECTIONS for s in _strings(policy.get(section)))


def synthetic_for(*policies: Mapping[str, Any]) -> Inventory:
    """`synthetic_inventory` over every identity any of the policies names."""
    return synthetic_inventory(sections_of(*policies))


def sections_of(*policies: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Section -> its value in each policy, for `synthetic_inventory`; a value equal to
    one already listed is left out (two revisions of a policy share most sections,
    and comparing is cheaper than collecting every string of a section again)."""
    out: dict[str, list[Any]] = {}
    for section in _SECTIONS:
        values: list[Any] = []
        for policy in policies:
            value = policy.get(section)
            if value not in values:
                values.append(value)
        out[section] = values
    return out


def users_of(devices: Iterable[Device]) -> tuple[User, ...]:
    """The owners of untagged devices, as members (for a backend whose roles were not
    read); an owner all of whose devices are shared in is a shared user."""
    shared: dict[str, bool] = {}
    for d in devices:
        if d.user and not d.tags:
            shared[d.user] = shared.get(d.user, True) and d.shared
    return tuple(User(login=login, shared=s) for login, s in sorted(shared.items()))


def with_named_identities(inventory: Inventory, *policies: Mapping[str, Any]) -> Inventory:
    """`inventory` plus a synthesised device for every login and tag the policies name
    that owns no device in it (the user, too, when it is not listed).

    Without them, access that such an identity gains or loses would be invisible. Their
    addresses are the synthetic ones (100.64.0.1, ... and fd7a:115c:a1e0::1, ...) that
    no device of the inventory holds; their id is `SYNTHETIC_ID` so counts of real
    devices can leave them out. Returns `inventory` itself when nothing is missing.
    """
    logins, tags = named_identities(*policies)
    owning = {d.user.lower() for d in inventory.devices if d.user and not d.tags}
    carried = {t for d in inventory.devices for t in d.tags}
    missing = [x for x in sorted(logins) if x.lower() not in owning] + \
        [t for t in sorted(tags) if t not in carried]
    if not missing:
        return inventory
    used = {a for d in inventory.devices for a in d.addresses}
    names = {d.name for d in inventory.devices}
    listed = {u.login.lower() for u in inventory.users}
    users = list(inventory.users)
    devices = list(inventory.devices)
    i = 0
    for owner in missing:
        while True:
            i += 1
            ipv4 = f"100.64.{i >> 8 & 0xFF}.{i & 0xFF}" if i < 1 << 16 else _v4_beyond(i)
            ipv6 = f"fd7a:115c:a1e0::{i:x}"
            if ipv4 not in used and ipv6 not in used:
                break
        name = owner[4:] if owner.startswith("tag:") else f"{owner.split('@', 1)[0]}-{i}"
        while name in names:
            name += "-synthetic"
        names.add(name)
        if owner.startswith("tag:"):
            devices.append(Device(name=name, ipv4=ipv4, ipv6=ipv6, tags=(owner,),
                                  id=SYNTHETIC_ID))
            continue
        if owner.lower() not in listed:
            users.append(User(login=owner))
        devices.append(Device(name=name, ipv4=ipv4, ipv6=ipv6, user=owner, id=SYNTHETIC_ID))
    return Inventory(users=tuple(users), devices=tuple(devices), source=inventory.source)


def synthetic_inventory(policy: Mapping[str, Any]) -> Inventory:
    """One device per user login and per tag the policy names; deterministic addresses.

    Logins come from group members, tag owners and every rule, test and sshTest; tags
    from `tagOwners` keys and every reference. Addresses are handed out in sorted order:
    100.64.0.1, .2, ... and fd7a:115c:a1e0::1, ::2, ... so runs are reproducible.
    """
    logins: set[str] = set()
    tags: set[str] = set()
    owners = policy.get("tagOwners")
    if isinstance(owners, Mapping):
        tags.update(
            k.strip() for k in owners if isinstance(k, str) and k.strip().startswith("tag:")
        )
    texts: set[str] = set()  # the same selectors recur: parse each text once
    for section in _SECTIONS:
        _collect(policy.get(section), texts)
    for s in texts:
        login = _login_of(s)
        if login:
            logins.add(login)
        tag = _tag_of(s)
        if tag:
            tags.add(tag)
    users = tuple(User(login=login) for login in sorted(logins))
    devices: list[Device] = []
    for i, owner in enumerate([*sorted(logins), *sorted(tags)], start=1):
        ipv4 = f"100.64.{i >> 8 & 0xFF}.{i & 0xFF}" if i < 1 << 16 else _v4_beyond(i)
        ipv6 = f"fd7a:115c:a1e0::{i:x}"
        if owner.startswith("tag:"):
            devices.append(Device(name=owner[4:], ipv4=ipv4, ipv6=ipv6, tags=(owner,)))
        else:
            local = owner.split("@", 1)[0] or "user"
            devices.append(Device(name=f"{local}-{i}", ipv4=ipv4, ipv6=ipv6, user=owner))
    return Inventory(users=users, devices=tuple(devices), source="synthetic")


def _v4_beyond(i: int) -> str:
    base = (100 << 24) | (64 << 16)
    return ".".join(str((base + i) >> s & 0xFF) for s in (24, 16, 8, 0))
