"""The access diff as data: who gains and who loses which network access, and why.

Access-diff layer, vocabulary only (imports `reconciler.source`). `compute` fills these
records, `render` turns them into text, Markdown (with a Mermaid graph) and JSON. The
records are frozen and sorted, so one diff renders the same way every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.source import Location, PathKey


@dataclass(frozen=True, order=True)
class RuleRef:
    """A rule responsible for a change: its path in the policy and where it was written."""

    path: PathKey
    location: Location | None = None

    @property
    def label(self) -> str:
        """``grants[3]`` or ``acls[0].dst[1]``: the rule's address inside the document."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(default allow-all)"

    def __str__(self) -> str:
        if self.location is None:
            return self.label
        return f"{self.location.file}:{self.location.line}"


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
