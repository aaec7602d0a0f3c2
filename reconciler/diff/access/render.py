"""Render an access diff: a text section, Markdown with a Mermaid graph, and JSON data.

Access-diff layer, report step (imports `access_diff.model` only). Pure: data in, str or
dict out. Wording: ``+ group:contractors gains tcp:22 on tag:prod (3 devices)  [file:line]``
for gained access and ``- ... loses ...`` for lost access; `plan` and `diff` put this
section after the resource changes.
"""

from __future__ import annotations

from typing import Any

from reconciler.diff.access.model import AccessChange, AccessDiff

JSON_FORMAT_VERSION = 1
GAINED_STYLE = "stroke:#1a7f37,stroke-width:2px"
LOST_STYLE = "stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _what(change: AccessChange) -> str:
    return "all access" if change.ip == "*" else change.ip


def describe(change: AccessChange, verb: str) -> str:
    """``group:eng gains tcp:22 on tag:prod (3 devices)``."""
    devices = f" ({_plural(change.devices, 'device')})" if change.devices else ""
    return f"{change.src} {verb} {_what(change)} on {change.dst_text}{devices}"


def _refs(change: AccessChange) -> str:
    return f"  [{', '.join(str(r) for r in change.rules)}]" if change.rules else ""


def summary(diff: AccessDiff) -> str:
    if diff.empty:
        return "No access changes."
    return f"Access: {len(diff.gained)} gained, {len(diff.lost)} lost."


def render_text(diff: AccessDiff) -> str:
    """The "Access changes" section of `plan` and `diff` (ends with a newline)."""
    lines = ["Access changes:"]
    if diff.empty:
        lines.append("  (no one gains or loses network access)")
    for change in diff.gained:
        lines.append(f"  + {describe(change, 'gains')}{_refs(change)}")
    for change in diff.lost:
        lines.append(f"  - {describe(change, 'loses')}{_refs(change)}")
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
        for c in changes:
            edges.extend((c.src, d, c.ip, gained) for d in c.dst)
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
        for c in changes:
            rules = ", ".join(f"`{r}`" for r in c.rules)
            lines.append(f"| {sign} | `{_md(c.src)}` | `{_md(c.ip)}` | "
                         f"{', '.join(f'`{_md(d)}`' for d in c.dst)} | {c.devices} | {rules} |")
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
             "location": str(r.location) if r.location is not None else None}
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
