"""Render an access diff: a text section, Markdown with a Mermaid graph, and JSON data.

Access-diff layer, report step (imports `access_diff.model` only). Pure: data in, str or
dict out. Wording: ``+ group:contractors gains tcp:22 on tag:prod (3 devices)
[grants["contractors"] at file:line]`` for gained access and ``- ... loses ...`` for lost
access, one line per identity and destination (what it gains or loses per protocol
listed together); `plan` and `diff` put this section after the resource changes. JSON
keeps one change per protocol and ports.
"""

from __future__ import annotations

from typing import Any

from reconciler.access_diff.model import AccessChange, AccessDiff, RuleRef

JSON_FORMAT_VERSION = 1
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


def summary(diff: AccessDiff) -> str:
    if diff.empty:
        return "No access changes."
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


def _mermaid(diff: AccessDiff, max_edges: int) -> list[str]:
    edges: list[tuple[str, str, str, bool]] = []
    for gained, changes in ((True, diff.gained), (False, diff.lost)):
        for group in merged(changes):
            ip = ", ".join(c.ip for c in group)
            edges.extend((group[0].src, d, ip, gained) for d in group[0].dst)
    shown = edges[:max_edges]
    names = sorted({e[0] for e in shown} | {e[1] for e in shown})
    ids = {name: f"n{i}" for i, name in enumerate(names)}
    lines = ["```mermaid", "flowchart LR"]
    lines.extend(f'  {ids[n]}["{_mermaid_label(n)}"]' for n in names)
    for src, dst, ip, gained in shown:
        arrow = "-->" if gained else "-.->"
        sign = "+" if gained else "-"
        lines.append(f'  {ids[src]} {arrow}|"{sign} {_mermaid_label(ip)}"| {ids[dst]}')
    for k, (_s, _d, _ip, gained) in enumerate(shown):
        lines.append(f"  linkStyle {k} {GAINED_STYLE if gained else LOST_STYLE}")
    lines.append("```")
    if len(edges) > len(shown):
        left = len(edges) - len(shown)
        lines.append(f"_{_plural(left, 'more edge')} not drawn (limit {max_edges})._")
    return lines


def render_markdown(diff: AccessDiff, *, max_edges: int = 40) -> str:
    """A Markdown section: a table of changes, then a Mermaid graph (green gained, red
    dashed lost), at most `max_edges` edges with a count of the ones left out."""
    lines = ["### Access changes", ""]
    if diff.empty:
        lines.append("No one gains or loses network access.")
        return "\n".join(lines) + "\n"
    lines += ["| | Who | Access | On | Devices | Rules |", "|---|---|---|---|---|---|"]
    for sign, changes in (("+", diff.gained), ("-", diff.lost)):
        for group in merged(changes):
            c = group[0]
            rules = ", ".join(f"`{_md(str(r))}`" for r in _rules(group))
            access = ", ".join(f"`{_md(g.ip)}`" for g in group)
            devices = max(g.devices for g in group)
            lines.append(f"| {sign} | `{_md(c.src)}` | {access} | "
                         f"{', '.join(f'`{_md(d)}`' for d in c.dst)} | {devices} | {rules} |")
    lines += ["", summary(diff), ""]
    lines.extend(f"> {note}" for note in diff.notes)
    if diff.notes:
        lines.append("")
    lines.extend(_mermaid(diff, max_edges))
    return "\n".join(lines) + "\n"


# --- JSON -------------------------------------------------------------------------------------


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
