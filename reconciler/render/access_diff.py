"""Render an access diff: a text section, and Markdown with a Mermaid graph.

render/ (step: report). May import: `diff.access.model`, `engine.risk`, stdlib. Pure:
data in, str out (the JSON form is `diff.access.model.to_json`, which plan files keep).
Wording: ``+ group:contractors gains tcp:22 on tag:prod (3 devices)
[grants["contractors"] at file:line]`` for gained access and ``- ... loses ...`` for
lost access, one line per identity and destination (what it gains or loses per protocol
listed together); `plan` and `diff` put this section after the resource changes. The
JSON form keeps one change per protocol and ports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from reconciler.diff.access.model import AccessChange, AccessDiff, RuleRef
from reconciler.engine.risk import SERVICES, Risk, assess, home_domains, port_reach, worst

GAINED_STYLE = "stroke:#1a7f37,stroke-width:2px"
LOST_STYLE = "stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _what(change: AccessChange) -> str:
    return "all access" if change.ip == "*" else change.ip


def merged(changes: tuple[AccessChange, ...]) -> list[tuple[AccessChange, ...]]:
    """The changes of one identity on one destination together, in order: who loses
    icmp, ipv6-icmp, tcp and udp on a tag reads as one statement listing the four, not
    four statements (the data keeps one change per protocol and ports)."""
    groups: dict[tuple[str, tuple[str, ...]], list[AccessChange]] = {}
    for change in changes:
        groups.setdefault((change.src, change.dst), []).append(change)
    return [tuple(group) for group in groups.values()]


def _rules(group: tuple[AccessChange, ...]) -> list[RuleRef]:
    """The rules a group of changes cites, each once, in the order first cited."""
    return list(dict.fromkeys(r for c in group for r in c.rules))


def describe(change: AccessChange | tuple[AccessChange, ...], verb: str) -> str:
    """``group:eng gains tcp:22 on tag:prod (3 devices)``; a merged group lists what it
    gains: ``alice@example.com loses icmp:*, tcp:* except 443 on tag:web (1 device)``."""
    group = change if isinstance(change, tuple) else (change,)
    first = group[0]
    devices = max(c.devices for c in group)
    count = f" ({_plural(devices, 'device')})" if devices else ""
    what = ", ".join(_what(c) for c in group)
    return f"{first.src} {verb} {what} on {first.dst_text}{count}"


def _refs(group: tuple[AccessChange, ...]) -> str:
    rules = _rules(group)
    return f"  [{', '.join(str(r) for r in rules)}]" if rules else ""


@dataclass(frozen=True)
class Statement:
    """One line of the access changes, for a table: who gains or loses what where, the
    rules it cites (file:line) and how risky it is by `engine.risk`."""

    gained: bool
    text: str  # describe(): "group:eng gains tcp:22 on tag:prod (3 devices)"
    rules: tuple[str, ...]
    risk: Risk


def statements(diff: AccessDiff, sensitive: Collection[str] | None = None) -> list[Statement]:
    """The statements of `render_text`, risky gains first (riskiest first), then the
    other gains, then the losses, each group in the diff's order."""
    _, of = _people(diff)
    domains = home_domains([*of, *(c.src for c in (*diff.gained, *diff.lost))])
    out = []
    for gained, changes in ((True, diff.gained), (False, diff.lost)):
        for group in merged(changes):
            risk = worst(assess(c.src, d, c.proto, c.ports, sensitive=sensitive,
                                domains=domains) for c in group for d in c.dst)
            out.append(Statement(gained, describe(group, "gains" if gained else "loses"),
                                 tuple(str(r) for r in _rules(group)), risk))
    out.sort(key=lambda s: (not s.gained, -s.risk.score if s.gained else 0))
    return out


def summary(diff: AccessDiff) -> str:
    if diff.empty:
        # A note says what this section leaves out (SSH rules, app grants) that changed.
        return "No network access changes; see the notes." if diff.notes else \
            "No access changes."
    return f"Access: {len(merged(diff.gained))} gained, {len(merged(diff.lost))} lost."


def render_text(diff: AccessDiff) -> str:
    """The "Access changes" section of `plan` and `diff` (ends with a newline)."""
    lines = ["Access changes:"]
    if diff.empty:
        lines.append("  (no one gains or loses network access)")
    for group in merged(diff.gained):
        lines.append(f"  + {describe(group, 'gains')}{_refs(group)}")
    for group in merged(diff.lost):
        lines.append(f"  - {describe(group, 'loses')}{_refs(group)}")
    lines.extend(f"  note: {note}" for note in diff.notes)
    lines.append(summary(diff))
    return "\n".join(lines) + "\n"


# --- Markdown ---------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _mermaid_label(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;").replace("<", "#lt;") \
        .replace(">", "#gt;")


# Past these the diagram stops drawing each aggregated statement and draws the summary
# (groups x tags); past them again it draws the riskiest pairs and counts the rest.
MAX_EDGES = 24
MAX_NODES = 24
# A summary is denser (every box talks to many): fewer arrows stay readable.
MAX_SUMMARY_EDGES = 12
RISKY_STYLE = "stroke:#bc4c00,stroke-width:5px"
RISKY_NODE = "fill:#fff1e5,stroke:#bc4c00,stroke-width:3px,color:#000"


@dataclass(frozen=True)
class Edge:
    """One arrow: `src` gained (or lost) `services` on `dst`, and how risky the worst is."""

    src: str
    dst: str
    gained: bool
    services: tuple[str, ...]
    risk: Risk

    @property
    def label(self) -> str:
        sign = "+" if self.gained else "-"
        shown = list(self.services[:3])
        if len(self.services) > 3:
            shown.append(f"{len(self.services) - 3} more")
        mark = "⚠ " if self.gained and self.risk.risky else ""
        return f"{mark}{sign} {', '.join(shown)}"


def service(proto: str, ports: str) -> str:
    """``ssh``, ``https``, ``all`` or the grant spelling (``udp:53``) of one statement."""
    if ports == "*" and not proto:
        return "all"
    if proto in ("", "tcp") and ports.isdigit() and int(ports) in SERVICES:
        return SERVICES[int(ports)]
    return f"{proto}:{ports}" if proto else ports


def _services(pairs: set[tuple[str, str]]) -> tuple[str, ...]:
    """The services of one arrow, the risky ones first; every protocol's `*` (ICMP's,
    UDP's, TCP's with some ports carved out) reads as one ``all except tcp:22,443``."""
    everything = {p for p in pairs if p[1] == "*" or p[1].startswith("* except ")}
    if len(everything) >= 2 and everything == pairs:
        carved = sorted({f"{proto or 'tcp'}:{ports.removeprefix('* except ')}"
                         for proto, ports in pairs if ports.startswith("* except ")})
        return (f"all except {', '.join(carved)}",) if carved else ("all",)
    named = {service(proto, ports): port_reach(proto, ports) for proto, ports in pairs}
    return tuple(sorted(named, key=lambda s: (not named[s], s)))


def _people(diff: AccessDiff) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
    groups = {name: members for name, members in diff.groups if members}
    of: dict[str, list[str]] = defaultdict(list)
    for name, members in groups.items():
        for member in members:
            of[member].append(name)
    return groups, of


def _as_groups(users: set[str], groups: Mapping[str, tuple[str, ...]],
               of: Mapping[str, list[str]]) -> list[str]:
    """`users` drawn as the fewest groups: whole groups by name, the rest of one group as
    ``group:eng (4 of 5)``, anyone else by login (``3 users`` past two)."""
    left = set(users)
    out: list[str] = []
    for name, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        if left and set(members) <= left:
            out.append(name)
            left -= set(members)
    while left:
        # The group holding most of those left names them together.
        counts: dict[str, int] = defaultdict(int)
        for user in left:
            for name in of.get(user, ()):
                counts[name] += 1
        best = max(sorted(counts), key=lambda n: counts[n], default=None)
        if best is None or counts[best] < 2:
            break
        inside = {u for u in left if best in of.get(u, ())}
        out.append(f"{best} ({len(inside)} of {len(groups[best])})")
        left -= inside
    loose = sorted(left)
    out.extend(loose if len(loose) <= 2 else [f"{len(loose)} users"])
    return out


def _edges(diff: AccessDiff, sensitive: Collection[str] | None, summary: bool) -> list[Edge]:
    """The arrows: one per (who, where, gained or lost), people drawn as their groups;
    in `summary`, each person as their first group and every destination that is not
    a tag or autogroup as one box."""
    groups, of = _people(diff)
    tags = dict(diff.device_tags)
    domains = home_domains([*of, *(c.src for c in (*diff.gained, *diff.lost))])
    raw: dict[tuple[str, str, bool], set[tuple[str, str]]] = defaultdict(set)
    where: dict[str, set[str]] = defaultdict(set)  # box -> the destinations it stands for
    for gained, changes in ((True, diff.gained), (False, diff.lost)):
        for c in changes:
            for d in c.dst:
                box = _summary_dst(d, tags) if summary else d
                where[box].add(d)
                src = _summary_src(c.src, tags) if summary else c.src
                raw[(src, box, gained)].add((c.proto, c.ports))
    # People with the same access to the same box are drawn together, as their groups.
    same: dict[tuple[str, bool, frozenset[tuple[str, str]]], set[str]] = defaultdict(set)
    for (src, dst, gained), access in raw.items():
        same[(dst, gained, frozenset(access))].add(src)
    pairs: dict[tuple[str, str, bool], set[tuple[str, str]]] = defaultdict(set)
    for (dst, gained, shared), sources in same.items():
        users = {s for s in sources if _is_user(s)}
        if summary:
            names = sorted({of[u][0] if of.get(u) else "users in no group" for u in users})
        else:
            names = _as_groups(users, groups, of)
        for name in [*names, *sorted(sources - users)]:
            pairs[(name, dst, gained)].update(shared)
    edges = []
    for (src, dst, gained), access in pairs.items():
        who = src.split(" (", 1)[0]
        risk = worst(assess(who, d, proto, ports, sensitive=sensitive, domains=domains)
                     for d in sorted(where[dst]) for proto, ports in sorted(access))
        edges.append(Edge(src, dst, gained, _services(access), risk))
    # Risky gains first (riskiest first), then other gains, then losses.
    edges.sort(key=lambda e: (not e.gained, -e.risk.score if e.gained else 0,
                              e.src, e.dst))
    return edges


def _is_user(name: str) -> bool:
    return "@" in name and not name.startswith(("tag:", "autogroup:", "group:"))


def _summary_src(src: str, tags: Mapping[str, tuple[str, ...]]) -> str:
    if src in tags:
        return ", ".join(tags[src])
    if src.startswith(("tag:", "autogroup:", "group:")) or src == "*" or _is_user(src):
        return src
    return "other devices"


def _summary_dst(dst: str, tags: Mapping[str, tuple[str, ...]]) -> str:
    if dst in tags:
        return ", ".join(tags[dst])
    if dst.startswith(("tag:", "autogroup:")) or dst == "*":
        return dst
    return "other addresses"


def _draw(edges: list[Edge], tree: bool = False) -> list[str]:
    """The Mermaid block. `tree`: each source gets boxes of its own (a summary's boxes
    repeat names), so no two arrows meet and no labels collide."""
    def dst_key(e: Edge) -> tuple[str, str]:
        return (e.src, e.dst) if tree else ("", e.dst)

    keys: list[tuple[str, str]] = []
    for e in edges:
        for k in (("", e.src), dst_key(e)):
            if k not in keys:
                keys.append(k)
    ids = {k: f"n{i}" for i, k in enumerate(keys)}
    risky = [e for e in edges if e.gained and e.risk.risky]
    lines = ["```mermaid", "flowchart LR"]
    lines.extend(f'  {ids[k]}["{_mermaid_label(k[1])}"]' for k in keys)
    for e in edges:
        arrow = ("==>" if e.risk.risky else "-->") if e.gained else "-.->"
        lines.append(f'  {ids["", e.src]} {arrow}|"{_mermaid_label(e.label)}"| '
                     f"{ids[dst_key(e)]}")
    for n, e in enumerate(edges):
        style = (RISKY_STYLE if e.risk.risky else GAINED_STYLE) if e.gained else LOST_STYLE
        lines.append(f"  linkStyle {n} {style}")
    marked = sorted({ids[k] for e in risky for k in (("", e.src), dst_key(e))},
                    key=lambda i: int(i[1:]))
    if marked:
        lines.append(f"  classDef risky {RISKY_NODE}")
        lines.append(f"  class {','.join(marked)} risky")
    lines.append("```")
    return lines


def _short(services: tuple[str, ...]) -> tuple[str, ...]:
    """A summary arrow's label: ``all``, ``most`` (every port but a few), or the first
    two services and how many more."""
    if services and services[0].startswith("all except"):
        return ("most",)
    if "all" in services:
        return ("all",)
    return services if len(services) <= 2 else (*services[:2], f"{len(services) - 2} more")


def _joined(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])} +{len(names) - 3}"


def _compress(edges: list[Edge]) -> list[Edge]:
    """A summary with few arrows and no crossings: each source's destinations with the
    same label drawn as one box, then sources with exactly the same arrows as one box."""
    edges = [Edge(e.src, e.dst, e.gained, _short(e.services), e.risk) for e in edges]
    per: dict[tuple[str, bool, tuple[str, ...]], list[Edge]] = defaultdict(list)
    for e in edges:
        per[(e.src, e.gained, e.services)].append(e)
    edges = [Edge(src, _joined(sorted(x.dst for x in group)), gained, services,
                  worst(x.risk for x in group))
             for (src, gained, services), group in per.items()]
    signature: dict[str, set[tuple[str, bool, tuple[str, ...]]]] = defaultdict(set)
    for e in edges:
        signature[e.src].add((e.dst, e.gained, e.services))
    boxes: dict[frozenset[tuple[str, bool, tuple[str, ...]]], list[str]] = defaultdict(list)
    for name, sig in signature.items():
        boxes[frozenset(sig)].append(name)
    rename = {n: _joined(sorted(names)) for names in boxes.values() for n in names}
    merged: dict[tuple[str, str, bool, tuple[str, ...]], Edge] = {}
    for e in edges:
        key = (rename[e.src], e.dst, e.gained, e.services)
        risk = worst([merged[key].risk, e.risk]) if key in merged else e.risk
        merged[key] = Edge(key[0], e.dst, e.gained, e.services, risk)
    out = list(merged.values())
    out.sort(key=lambda e: (not e.gained, -e.risk.score if e.gained else 0, e.src, e.dst))
    return out


def _nodes(edges: list[Edge], tree: bool = False) -> int:
    return len({e.src for e in edges} | {(e.src if tree else "", e.dst) for e in edges})


def mermaid(diff: AccessDiff, *, max_edges: int = MAX_EDGES, max_nodes: int = MAX_NODES,
            sensitive: Collection[str] | None = None, table: str = "the table") -> list[str]:
    """The Mermaid block and the lines under it that say what it leaves out.

    Draws each (who, where) pair once, people as their groups and ports as services,
    risky gains first and thick (`reconciler.engine.risk`). Past `max_edges` arrows or
    `max_nodes` boxes it draws the summary (groups x tags); if even that is too big, the
    riskiest pairs that fit, and says how many it left out and where they are (`table`).
    """
    edges = _edges(diff, sensitive, summary=False)
    note = []
    tree = False
    if len(edges) > max_edges or _nodes(edges) > max_nodes:
        tree = True
        max_edges = min(max_edges, MAX_SUMMARY_EDGES)
        detailed = len(edges)
        edges = _compress(_edges(diff, sensitive, summary=True))
        note.append(f"_Summary of {_plural(detailed, 'arrow')}: groups and their tags, "
                    "each group's tags with the same change in one box (most: every port "
                    f"but a few); every statement is in {table}._")
    if len(edges) > max_edges or _nodes(edges, tree) > max_nodes:
        kept: list[Edge] = []
        for e in edges:
            if len(kept) < max_edges and _nodes([*kept, e], tree) <= max_nodes:
                kept.append(e)
        left = len(edges) - len(kept)
        note.append(f"_{_plural(left, 'more pair')} not drawn (limit {max_edges} arrows, "
                    f"{max_nodes} boxes): see {table}._")
        edges = kept
    return [*_draw(edges, tree), *note]


def risky_gains(diff: AccessDiff, sensitive: Collection[str] | None = None) -> list[Edge]:
    """The risky gains, riskiest first, drawn as in the diagram (people as their groups)."""
    return [e for e in _edges(diff, sensitive, summary=False) if e.gained and e.risk.risky]


def render_markdown(diff: AccessDiff, *, max_edges: int = MAX_EDGES,
                    sensitive: Collection[str] | None = None, table: str = "open",
                    max_rows: int | None = None) -> str:
    """A Markdown section: the risky gains called out, a Mermaid diagram (green gained,
    thick orange risky gains, red dashed lost; see `mermaid`), then the table of every
    statement: `table` "open", "collapsed" (in a <details>) or "none"; `max_rows` caps
    its rows and counts the rest."""
    lines = ["### Access changes", ""]
    if diff.empty:
        lines.append("No one gains or loses network access.")
        if diff.notes:  # what the section leaves out that changed (SSH rules, app grants)
            lines += ["", *(f"> {note}" for note in diff.notes)]
        return "\n".join(lines) + "\n"
    lines += [summary(diff), ""]
    risky = risky_gains(diff, sensitive)
    if risky:
        lines.append("> [!WARNING]\n> Risky access gained (the rule: README, Risky access):")
        lines.extend(f"> - `{_md(e.src)}` gains {_md(', '.join(e.services))} on "
                     f"`{_md(e.dst)}`: {', '.join(e.risk.reasons)}" for e in risky[:10])
        if len(risky) > 10:
            lines.append(f"> - and {len(risky) - 10} more")
        lines.append("")
    lines.extend(f"> {note}" for note in diff.notes)
    if diff.notes:
        lines.append("")
    # Without the table here (a comment at its size limit), the notes point past it.
    where = "the table" if table != "none" else \
        "the full output (its table is left out of this comment for size)"
    lines.extend(mermaid(diff, max_edges=max_edges, sensitive=sensitive, table=where))
    if table == "none":
        return "\n".join(lines) + "\n"
    rows = [(sign, group) for sign, changes in (("+", diff.gained), ("-", diff.lost))
            for group in merged(changes)]
    shown = rows if max_rows is None else rows[:max_rows]
    body = ["| | Who | Access | On | Devices | Rules |", "|---|---|---|---|---|---|"]
    for sign, group in shown:
        c = group[0]
        rules = ", ".join(f"`{_md(str(r))}`" for r in _rules(group))
        access = ", ".join(f"`{_md(g.ip)}`" for g in group)
        devices = max(g.devices for g in group)
        body.append(f"| {sign} | `{_md(c.src)}` | {access} | "
                    f"{', '.join(f'`{_md(d)}`' for d in c.dst)} | {devices} | {rules} |")
    if len(shown) < len(rows):
        body += ["", f"_{_plural(len(rows) - len(shown), 'more statement')} left out to "
                     "keep this comment within GitHub's size limit._"]
    lines.append("")
    if table == "collapsed":
        lines += [f"<details><summary>Every access statement ({len(rows)})</summary>", "",
                  *body, "", "</details>"]
    else:
        lines += body
    return "\n".join(lines) + "\n"

