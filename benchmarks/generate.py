"""Seeded generator of synthetic tailnets: users, groups, tags, devices, rules and tests.

Benchmark support (stdlib only). `generate(scale, seed)` returns a policy document and
a native inventory whose tests all hold by construction:

* every `accept` is derived from one rule (a source the rule names, a destination and
  port the rule names), so it must pass under ∀-source / ∃-destination semantics;
* every `deny` uses a port no rule opens (rules never use `*` ports), so it must pass.

The same (scale, seed) always gives the same tailnet.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

OPEN_PORTS = [22, 80, 443, 3306, 5432, 6379, 8080, 8443, 9090]
CLOSED_PORTS = [7, 9, 13, 17, 19, 37, 79]  # never opened by any generated rule


@dataclass(frozen=True)
class Scale:
    name: str
    rules: int
    assertions: int
    devices: int


SCALES = {
    "small": Scale("small", 100, 1_000, 200),
    "large": Scale("large", 5_000, 50_000, 10_000),
    "huge": Scale("huge", 20_000, 200_000, 50_000),
}


def _v4(i: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("100.64.0.0")) + i))


def _v6(i: int) -> str:
    return f"fd7a:115c:a1e0::{i:x}"


def generate(scale: Scale, seed: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """(policy, inventory data) for `scale`; tests hold `scale.assertions` assertions."""
    rnd = random.Random(seed)
    n_users = max(10, scale.devices * 3 // 10)
    n_tags = max(8, scale.devices // 50)
    n_groups = max(4, n_users // 40)
    users = [f"user{i}@example.com" for i in range(n_users)]
    tags = [f"tag:t{i}" for i in range(n_tags)]
    groups = {f"group:g{i}": sorted(rnd.sample(users, min(len(users), rnd.randint(5, 40))))
              for i in range(n_groups)}

    devices: list[dict[str, Any]] = []
    for i in range(1, scale.devices + 1):
        d: dict[str, Any] = {"name": f"dev{i}", "ipv4": _v4(i), "ipv6": _v6(i)}
        if i <= n_users:  # every user has at least one device
            d["user"] = users[i - 1]
        elif rnd.random() < 0.55:
            d["tags"] = [rnd.choice(tags)]
        else:
            d["user"] = rnd.choice(users)
        devices.append(d)
    for t in tags:  # every tag has at least one device
        if not any(t in d.get("tags", []) for d in devices):
            victim = devices[rnd.randrange(n_users, len(devices))]
            victim.pop("user", None)
            victim["tags"] = [t]
    routers = [d for d in devices if d.get("tags")][: max(1, n_tags // 10)]
    for k, d in enumerate(routers):
        d["approved_routes"] = [f"10.{k % 250}.0.0/16"]
    hosts = {f"h{k}": devices[rnd.randrange(len(devices))]["ipv4"] for k in range(20)}
    hosts.update({f"net{k}": f"10.{k % 250}.0.0/16" for k in range(len(routers))})

    def src_selector() -> str:
        roll = rnd.random()
        if roll < 0.45:
            return rnd.choice(list(groups))
        if roll < 0.75:
            return rnd.choice(users)
        if roll < 0.95:
            return rnd.choice(tags)
        return "autogroup:member"

    def dst_selector() -> str:
        roll = rnd.random()
        if roll < 0.6:
            return rnd.choice(tags)
        if roll < 0.75:
            return rnd.choice(list(groups))
        if roll < 0.9:
            return rnd.choice(users)
        return rnd.choice(list(hosts))

    def ports() -> list[int]:
        return sorted(rnd.sample(OPEN_PORTS, rnd.randint(1, 3)))

    acls: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    # (src selectors, [(dst selector, ports)]) per rule, to derive accepts from
    shapes: list[tuple[list[str], list[tuple[str, list[int]]]]] = []
    for _ in range(scale.rules):
        src = sorted({src_selector() for _ in range(rnd.randint(1, 3))})
        dsts = sorted({dst_selector() for _ in range(rnd.randint(1, 3))})
        if rnd.random() < 0.5:
            entries = [(d, ports()) for d in dsts]
            acls.append({"action": "accept", "src": src,
                         "dst": [f"{d}:{','.join(map(str, p))}" for d, p in entries]})
            shapes.append((src, entries))
        else:
            p = ports()
            ip = [f"tcp:{x}" if rnd.random() < 0.3 else str(x) for x in p]
            grants.append({"src": src, "dst": dsts, "ip": ip})
            shapes.append((src, [(d, p) for d in dsts]))

    tests: list[dict[str, Any]] = []
    identities = users + tags + list(groups)
    made = 0
    while made < scale.assertions:
        src_sel, entries = shapes[rnd.randrange(len(shapes))]
        src = rnd.choice(src_sel)
        if src == "autogroup:member":
            src = rnd.choice(users)
        n_accept = min(rnd.randint(1, 4), scale.assertions - made)
        accept = []
        for _ in range(n_accept):
            dst, p = rnd.choice(entries)
            if dst.startswith("net"):  # a subnet alias: test one address inside it
                dst = hosts[dst].replace(".0.0/16", f".{rnd.randint(0, 255)}.{rnd.randint(1, 254)}")
            accept.append(f"{dst}:{rnd.choice(p)}")
        made += len(accept)
        n_deny = min(rnd.randint(0, 3), scale.assertions - made)
        deny = [f"{rnd.choice(identities)}:{rnd.choice(CLOSED_PORTS)}" for _ in range(n_deny)]
        made += len(deny)
        test: dict[str, Any] = {"src": src, "accept": accept}
        if deny:
            test["deny"] = deny
        tests.append(test)

    policy: dict[str, Any] = {
        "groups": groups,
        "tagOwners": {t: ["autogroup:admin"] for t in tags},
        "hosts": hosts,
        "acls": acls,
        "grants": grants,
        "tests": tests,
    }
    inventory = {"users": [{"login": u} for u in users], "devices": devices}
    return policy, inventory
