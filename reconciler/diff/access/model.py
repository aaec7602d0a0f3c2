"""The access diff as data: who gains and who loses which network access, and why.

diff/access/ (step: diff), vocabulary only. May import: `core.source`, stdlib. `compute`
fills these records and `to_json` gives their JSON form (what plan files keep, below
`render/`); `render/access_diff.py` turns them into text and Markdown (with a Mermaid
graph). The records are frozen and sorted, so one diff renders the same way every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.source import Location, PathKey

# `Location.file` of a rule found only in the live policy (an edit made outside git):
# its line is the live text's.
LIVE_POLICY = "live policy"

JSON_FORMAT_VERSION = 1


@dataclass(frozen=True, order=True)
class RuleRef:
    """A rule responsible for a change: its path in the policy, where it was written, and
    its `name:` when it has one (`naming.cite` fills both in for the people reading)."""

    path: PathKey
    location: Location | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """``grants[3]`` or ``acls[0].dst[1]``: the rule's address inside the document."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(default allow-all)"

    @property
    def address(self) -> str:
        """How people know the rule: ``grants["eng-web"]`` by its name, else its label;
        a device's tags as the plan addresses them, ``devices["db-1"].tags``."""
        if len(self.path) == 3 and self.path[0] == "devices":
            return f'devices["{self.path[1]}"].{self.path[2]}'
        if self.name is None or len(self.path) != 2:
            return self.label
        return f"{self.path[0]}[{json.dumps(self.name, ensure_ascii=False)}]"

    def __str__(self) -> str:
        """``grants["eng-web"] at policies/access.yaml:6``; ``live policy, grants[6] at
        line 40`` for a rule that is in no fragment."""
        if self.location is None:
            return self.address
        if self.location.file == LIVE_POLICY:
            return f"{LIVE_POLICY}, {self.address} at line {self.location.line}"
        return f"{self.address} at {self.location.file}:{self.location.line}"


@dataclass(frozen=True)
class AccessChange:
    """One aggregated statement: `src` gains (or loses) `proto:ports` on every one of `dst`.

    Invariant: every device (address) `src` names reaches (or no longer reaches) every
    address `dst` names on every listed port, so the statement is true as written;
    statements never claim more than the relation changed. `proto` is "" when the rule
    covers Tailscale's default protocols (TCP, UDP, ICMP, ICMPv6); `ports` is "*" for
    every port. `devices` counts the tailnet devices `dst` stands for.
    """

    src: str
    dst: tuple[str, ...]
    ports: str
    proto: str
    devices: int
    rules: tuple[RuleRef, ...] = ()

    @property
    def ip(self) -> str:
        """The grant `ip` spelling: ``tcp:22``, ``22``, ``*``."""
        return f"{self.proto}:{self.ports}" if self.proto else self.ports

    @property
    def dst_text(self) -> str:
        return ", ".join(self.dst)


@dataclass(frozen=True)
class AccessDiff:
    """Access gained and lost between two policies over one inventory."""

    gained: tuple[AccessChange, ...] = ()
    lost: tuple[AccessChange, ...] = ()
    inventory: str = "synthetic"
    notes: tuple[str, ...] = field(default=())
    # The policies' groups (name, members), for drawing people as their groups. Display
    # only: not part of a diff's identity, and not kept in plan files.
    groups: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)
    # Tagged devices the diff names one by one, with their tags (display only, likewise).
    device_tags: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        return not self.gained and not self.lost


# --- JSON: the form plan files, `plan --format json` and `diff --format json` hold ------------


def change_to_dict(change: AccessChange) -> dict[str, Any]:
    return {
        "src": change.src,
        "dst": list(change.dst),
        "ip": change.ip,
        "proto": change.proto or None,
        "ports": change.ports,
        "devices": change.devices,
        "rules": [
            {"path": r.label,
             "location": str(r.location) if r.location is not None else None,
             "name": r.name}
            for r in change.rules
        ],
    }


def to_json(diff: AccessDiff) -> dict[str, Any]:
    """JSON-ready data (format_version 1): gained and lost changes and the counts."""
    return {
        "format_version": JSON_FORMAT_VERSION,
        "inventory": diff.inventory,
        "counts": {"gained": len(diff.gained), "lost": len(diff.lost)},
        "gained": [change_to_dict(c) for c in diff.gained],
        "lost": [change_to_dict(c) for c in diff.lost],
        "notes": list(diff.notes),
    }
