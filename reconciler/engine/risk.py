"""The one rule for "risky access", shared by `lint`, the plan's access diagram and
`reconciler report`.

Lowest layer: imports the stdlib only, so the lint checks, `access_diff.render` and
`render.report` can all use it without importing each other. Pure.

Access is judged on three independent questions; each one it hits is a reason:
- **what**: SSH or another admin port (`ADMIN_PORTS`: SSH, telnet, RDP, VNC, WinRM,
  Kubernetes, kubelet, Docker), or every port of some protocol (`*`, also `* except ...`);
- **where**: a sensitive destination: a tag listed in `sensitive_tags` in
  reconciler.yaml or, when none are listed, a tag named like production (`prod` in its
  name); `*` and `autogroup:danger-all` (everything) count as sensitive too;
- **who**: people from outside: a group named like contractors, vendors, partners,
  guests or externals, `autogroup:shared` (users of other tailnets), a user whose email
  domain is not one of the tailnet's own, or everyone (`*`, `autogroup:member`,
  `autogroup:danger-all`).

Access that hits two or more of the three is **risky**, and more reasons rank higher:
`group:contractors` gaining SSH on `tag:prod` hits all three. The diagram draws risky
gains first, thick and marked; the report marks risky matrix cells; lint's `allow-all`
(everyone to every address on every port) and `danger-all` findings are the policy-wide
forms of the same rule and use its selectors.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

# Selectors that stand for every device: as a source, everyone; as a destination, everything.
DANGER_ALL = "autogroup:danger-all"
EVERYONE = ("*", "autogroup:member", "autogroup:members", DANGER_ALL)
EVERYTHING = ("*", DANGER_ALL)
OUTSIDE_GROUP_WORDS = ("contractor", "vendor", "partner", "guest", "external", "extern",
                       "freelance", "temp")
SHARED = "autogroup:shared"
# A person's own devices: never risky, whoever they are.
OWN_DEVICES = ("autogroup:self", "(own devices)")

# Ports that give a shell or control of a machine.
ADMIN_PORTS = {22: "ssh", 23: "telnet", 2375: "docker", 2376: "docker", 3389: "rdp",
               5900: "vnc", 5985: "winrm", 5986: "winrm", 6443: "kubernetes",
               10250: "kubelet"}
# Names the diagram gives to well-known TCP ports (admin ports included).
SERVICES = {**ADMIN_PORTS, 53: "dns", 80: "http", 443: "https", 3306: "mysql",
            5432: "postgres", 6379: "redis", 8080: "http-alt", 8443: "https-alt",
            9100: "node-exporter", 27017: "mongodb"}


@dataclass(frozen=True)
class Risk:
    """Why some access is risky: one reason per question it hits (see the module)."""

    what: str = ""  # "ssh", "every port", "rdp", ...
    where: str = ""  # the sensitive destination
    who: str = ""  # the outside or all-encompassing source

    @property
    def score(self) -> int:
        return sum(1 for part in (self.what, self.where, self.who) if part)

    @property
    def risky(self) -> bool:
        return self.score >= 2

    @property
    def reasons(self) -> list[str]:
        out = []
        if self.what:
            out.append(self.what)
        if self.where:
            out.append(f"sensitive {self.where}")
        if self.who:
            out.append(f"from {self.who}")
        return out


def is_sensitive(dst: str, sensitive: Collection[str] | None = None) -> bool:
    """`dst` is a sensitive destination: listed in `sensitive` (sensitive_tags in
    reconciler.yaml) or, when that is None, a tag named like production; or everything."""
    if dst in EVERYTHING:
        return True
    if sensitive is not None:
        return dst in sensitive
    return dst.startswith("tag:") and "prod" in dst.removeprefix("tag:").lower()


def default_sensitive(tags: Iterable[str]) -> list[str]:
    """The sensitive tags when reconciler.yaml lists none: those named like production."""
    return [t for t in tags if is_sensitive(t) and t.startswith("tag:")]


def is_outside(src: str, home_domains: Collection[str] = ()) -> bool:
    """`src` stands for people from outside the organisation, or for everyone."""
    if src in EVERYONE or src == SHARED:
        return True
    if src.startswith("group:"):
        name = src.removeprefix("group:").lower()
        return any(word in name for word in OUTSIDE_GROUP_WORDS)
    if "@" in src and home_domains and not src.startswith(("tag:", "autogroup:")):
        return src.rpartition("@")[2].lower() not in home_domains
    return False


def home_domains(identities: Iterable[str]) -> set[str]:
    """The tailnet's own email domains: the most common one among `identities` (ties:
    all of them). Empty when there are no users, so nobody is judged by domain."""
    counts: dict[str, int] = {}
    for identity in identities:
        if "@" in identity and not identity.startswith(("tag:", "autogroup:", "group:")):
            domain = identity.rpartition("@")[2].lower()
            counts[domain] = counts.get(domain, 0) + 1
    if not counts:
        return set()
    top = max(counts.values())
    return {d for d, n in counts.items() if n == top}


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def port_reach(proto: str, ports: str) -> str:
    """What a (protocol, ports) pair opens that is risky: "every port", an admin port's
    name ("ssh"), or "". `proto` "" means Tailscale's defaults (TCP among them); ports are
    written as in grants and the access diff: `22`, `22,443`, `8000-8100`, `*`,
    `* except 22,443`."""
    protocols = set(proto.lower().split("/")) - {""}
    text = ports.strip()
    if text.startswith("*"):
        # ICMP has no ports: pinging every device is not what this rule is about.
        return "" if protocols and protocols <= {"icmp", "ipv6-icmp", "1", "58"} else \
            "every port"
    if protocols and not protocols & {"tcp", "6"}:
        return ""
    found: list[str] = []
    for part in text.split(","):
        m = _RANGE.match(part.strip())
        if not m:
            continue
        low = int(m.group(1))
        high = int(m.group(2) or low)
        found.extend(name for port, name in ADMIN_PORTS.items()
                     if low <= port <= high and name not in found)
    return ", ".join(found)


def assess(src: str, dst: str, proto: str, ports: str, *,
           sensitive: Collection[str] | None = None,
           domains: Collection[str] = ()) -> Risk:
    """The reasons `src` reaching `dst` on `proto:ports` is risky (see the module)."""
    if dst in OWN_DEVICES:
        return Risk()
    return Risk(what=port_reach(proto, ports),
                where=dst if is_sensitive(dst, sensitive) else "",
                who=src if is_outside(src, domains) else "")


def worst(risks: Iterable[Risk]) -> Risk:
    """The highest-scoring risk (the first of equals); an empty Risk when none."""
    best = Risk()
    for risk in risks:
        if risk.score > best.score:
            best = risk
    return best
