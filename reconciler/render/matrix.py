"""render/ (step: report): the access matrix, who reaches what, as a grid a person can read.

render/ (step: report). May import: stdlib only; it takes plain rows (source identity,
destination, (protocol, ports) pairs), as `engine.access.AccessEntry` holds them, and
the policy's groups. Pure: computing access happens in the engine.

A flat list of identity pairs does not answer "who can reach production" at a glance,
so the grid aggregates before it draws:
- rows: users with exactly the same access are one row, named after their group when
  they are exactly its members (`group:sre`), else listed (`alice, bob`); each tag is a
  row of its own (tagged devices as sources);
- columns: tags, then destinations that are not devices (hosts, subnets,
  `autogroup:internet`), then users' own devices, merged like the rows;
  a user reaching their own devices is the column `(own devices)`, so a whole team
  allowed to reach its own laptops stays one row;
- cells: the ports allowed, with what a wider grant already covers left out
  (`tcp 443` beside `tcp/udp/icmp *` says nothing more).
"""

from __future__ import annotations

import html
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

Ports = tuple[tuple[str, str], ...]  # (protocol label, ports text), as the engine gives them

OWN = "(own devices)"


@dataclass(frozen=True)
class Row:
    """One access row: an identity's reach, before aggregation."""

    src: str
    dst: str
    ports: Ports


@dataclass
class Matrix:
    rows: list[str]  # row labels, in display order
    columns: list[str]
    # row -> column -> ports text (a `Change` in a diff grid): per row, as a large grid
    # has millions of cells
    by_row: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # label -> identities

    @property
    def cells(self) -> Mapping[tuple[str, str], Any]:
        """(row, column) -> ports, every non-empty cell: a view, not a copy."""
        return _Cells(self.by_row)

    def cell(self, row: str, column: str) -> str:
        cells = self.by_row.get(row)
        return cells.get(column, "") if cells is not None else ""


class _Cells(Mapping[tuple[str, str], Any]):
    """`Matrix.cells`: the per-row cells seen as one (row, column) mapping."""

    def __init__(self, by_row: dict[str, dict[str, Any]]) -> None:
        self._by_row = by_row

    def __getitem__(self, key: tuple[str, str]) -> Any:
        return self._by_row[key[0]][key[1]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((row, c) for row, cells in self._by_row.items() for c in cells)

    def __len__(self) -> int:
        return sum(len(cells) for cells in self._by_row.values())


@lru_cache(maxsize=1 << 16)
def _is_user(identity: str) -> bool:
    return "@" in identity and not identity.startswith(("tag:", "autogroup:"))


def simplify(ports: Iterable[tuple[str, str]]) -> Ports:
    """The (protocol, ports) pairs with those a `*` on a wider protocol set covers left
    out. Protocol labels are `/`-joined names (`tcp/udp/icmp`), as the engine writes."""
    pairs = sorted(set(ports))
    wide = [set(label.split("/")) for label, text in pairs if text == "*"]
    kept = [(label, text) for label, text in pairs
            if not (text != "*" and any(set(label.split("/")) <= w for w in wide))
            and not (text == "*" and any(set(label.split("/")) < w for w in wide))]
    return tuple(kept)


@lru_cache(maxsize=1 << 14)
def ports_text(ports: Ports) -> str:
    return "; ".join(f"{label} {text}" for label, text in ports)


def _label(identities: Sequence[str], groups: Mapping[str, Sequence[str]]) -> str:
    """A group's name when `identities` are exactly its members; else the identities."""
    wanted = set(identities)
    exact = sorted(g for g, members in groups.items() if set(members) == wanted)
    if exact:
        return exact[0]
    # Most of a group, the rest of it elsewhere (a member also in a group with more
    # access): name the group and the few left out.
    near = sorted((len(members), g) for g, members in groups.items()
                  if len(wanted) >= 2 and wanted < set(members)
                  and len(set(members) - wanted) <= min(2, len(wanted) - 1))
    if near:
        group = near[0][1]
        return f"{group} except {', '.join(sorted(set(groups[group]) - wanted))}"
    shown = sorted(identities)
    return ", ".join(shown) if len(shown) <= 3 else f"{', '.join(shown[:3])} +{len(shown) - 3}"


def build(rows: Iterable[Row], groups: Mapping[str, Sequence[str]], *,
          tags: Iterable[str] = ()) -> Matrix:
    """Aggregate identity-level rows into the grid described in the module docstring."""
    reach: dict[str, dict[str, Ports]] = {}
    for r in rows:
        dst = OWN if r.dst == r.src and _is_user(r.src) else r.dst
        cell = reach.setdefault(r.src, {})
        cell[dst] = simplify([*cell.get(dst, ()), *r.ports])
    return _assemble(((src, tuple(sorted(reach[src].items())), reach[src].items)
                      for src in sorted(reach)), groups, tags)


def build_shared(rows: Iterable[tuple[str, Sequence[tuple[str, Ports]], Ports | None, bool]],
                 groups: Mapping[str, Sequence[str]], *, tags: Iterable[str] = ()) -> Matrix:
    """`build` from the engine's shared rows (`AccessMatrix.shared_rows`): per source,
    its sorted (destination, ports) list, one object for sources with equal selectors,
    its cell to itself when autogroup:self widens it, and whether the list is shared
    (only those are remembered between sources). The same grid as `build` on
    the flat pairs, with the work per distinct list instead of per identity pair: the
    pairs grow as sources x destinations (4.7M on a 10k-device tailnet)."""
    # Each distinct (destination, simplified ports) cell as a small int, so that a row's
    # key is a tuple of ints (cheap to hash), computed once per shared list.
    cell_ids: dict[tuple[str, Ports], int] = {}
    per_list: dict[int, tuple[Sequence[tuple[str, Ports]], list[str], tuple[int, ...]]] = {}

    def key_of(src: str, items: Sequence[tuple[str, Ports]], own: Ports | None, shared: bool
               ) -> tuple[tuple[int, ...], Callable[[], Iterable[tuple[str, Ports]]]]:
        # Held (the list with it, so that its id stays its own) only when shared.
        known = per_list.get(id(items)) if shared else None
        if known is None:
            ids = tuple(cell_ids.setdefault((dst, _simplified(ports)), len(cell_ids))
                        for dst, ports in items)
            known = (items, [dst for dst, _ in items], ids)
            if shared:
                per_list[id(items)] = known
        _, names, ids = known
        pos = bisect_left(names, src) if _is_user(src) else len(names)
        here = pos < len(names) and names[pos] == src
        if own is None and not here:
            return ids, lambda: ((dst, _simplified(p)) for dst, p in items)
        mine = own if own is not None else items[pos][1]
        rest = ids[:pos] + ids[pos + 1:] if here else ids
        key = (*rest, cell_ids.setdefault((OWN, _simplified(mine)), len(cell_ids)))

        def cells() -> Iterable[tuple[str, Ports]]:
            yield from ((dst, _simplified(p)) for dst, p in items if dst != src)
            yield OWN, _simplified(mine)
        return key, cells

    def keyed() -> Iterator[tuple[str, Hashable, Callable[[], Iterable[tuple[str, Ports]]]]]:
        for src, items, own, shared in rows:
            key, cells = key_of(src, items, own, shared)
            yield src, key, cells

    return _assemble(keyed(), groups, tags)


@lru_cache(maxsize=1 << 14)
def _simplified(ports: Ports) -> Ports:
    return simplify(ports)


def _assemble(rows: Iterable[tuple[str, Hashable, Callable[[], Iterable[tuple[str, Any]]]]],
              groups: Mapping[str, Sequence[str]], tags: Iterable[str],
              text: Callable[[Any], Any] = ports_text) -> Matrix:
    """The grid from (source, key equal iff the rows are, the row's cells) in source
    order: users with equal rows become one row; tags stay apart. `text` makes a
    cell's value from its ports (a `Change` as it is, for a diff grid)."""
    by_reach: dict[Hashable, list[str]] = {}
    cells_of: dict[str, Callable[[], Iterable[tuple[str, Ports]]]] = {}
    tag_rows: list[str] = []
    for src, key, cells in rows:
        if _is_user(src):
            ids = by_reach.setdefault(key, [])
            if not ids:
                cells_of[src] = cells
            ids.append(src)
        else:
            tag_rows.append(src)
            cells_of[src] = cells
    labels = {id(ids): _label(ids, groups) for ids in by_reach.values()}
    user_rows = sorted(by_reach.values(), key=lambda ids: (labels[id(ids)].startswith(
        "group:") is False, labels[id(ids)]))
    matrix = Matrix(rows=[], columns=[])
    for ids in user_rows:
        label = labels[id(ids)]
        matrix.rows.append(label)
        matrix.members[label] = ids
        matrix.by_row.setdefault(label, {}).update(
            (dst, text(ports)) for dst, ports in cells_of[ids[0]]())
    for src in tag_rows:
        matrix.rows.append(src)
        matrix.members[src] = [src]
        matrix.by_row.setdefault(src, {}).update(
            (dst, text(ports)) for dst, ports in cells_of[src]())
    _merge_user_columns(matrix, groups)
    known_tags = set(tags)
    columns = {c for cells in matrix.by_row.values() for c in cells}
    tag_cols = sorted(c for c in columns if c.startswith("tag:") or c in known_tags)
    user_cols = sorted(c for c in columns if c.startswith("devices of "))
    own = [OWN] if OWN in columns else []
    other = sorted(columns - set(tag_cols) - set(user_cols) - set(own))
    matrix.columns = tag_cols + other + own + user_cols
    return matrix


def _merge_user_columns(matrix: Matrix, groups: Mapping[str, Sequence[str]]) -> None:
    """Users as destinations (another user's devices): equal columns become one."""
    by_user: dict[str, list[tuple[str, str]]] = {}  # user column -> (row, text) cells
    for row, cells in matrix.by_row.items():
        for c, text in cells.items():
            if _is_user(c):
                by_user.setdefault(c, []).append((row, text))
    if not by_user:
        return
    by_column: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for user in sorted(by_user):
        column = tuple(sorted(by_user[user]))
        by_column.setdefault(column, []).append(user)
    for ids in by_column.values():
        label = f"devices of {_label(ids, groups)}"
        for user in ids:
            for row, _ in by_user[user]:
                cells = matrix.by_row[row]
                cells[label] = cells.pop(user)
        matrix.members[label] = ids


# --- a diff grid: two revisions' access, cell by cell ----------------------------------


class Change(NamedTuple):
    """A diff grid's cell: the (simplified) ports before and after."""

    before: Ports
    after: Ports


def build_diff(before: Iterable[Row], after: Iterable[Row],
               groups: Mapping[str, Sequence[str]], *, tags: Iterable[str] = ()) -> Matrix:
    """The grid of two revisions' identity-level rows, aggregated as `build` does, with
    a `Change` per cell: users are one row when their before and after rows are both
    equal, so a merged row or column is exact on both sides."""
    reach: dict[str, dict[str, list[Ports]]] = {}
    for side, rows in enumerate((before, after)):
        for r in rows:
            dst = OWN if r.dst == r.src and _is_user(r.src) else r.dst
            pair = reach.setdefault(r.src, {}).setdefault(dst, [(), ()])
            pair[side] = simplify([*pair[side], *r.ports])
    changes = {src: {dst: Change(*pair) for dst, pair in cells.items()}
               for src, cells in reach.items()}
    return _assemble(((src, tuple(sorted(changes[src].items())), changes[src].items)
                      for src in sorted(changes)), groups, tags, text=lambda c: c)


def _ranges(text: str) -> list[tuple[int, int]]:
    """Port text as the engine writes it (`*`, `22,80-90`) as ranges."""
    if text == "*":
        return [(0, 65535)]
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.append((int(a), int(b or a)))
    return out


def _minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ports of `a` not in `b` (both sorted, disjoint ranges)."""
    out = []
    for lo, hi in a:
        for blo, bhi in b:
            if bhi < lo or blo > hi:
                continue
            if blo > lo:
                out.append((lo, blo - 1))
            lo = bhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return out


def _text(ranges: list[tuple[int, int]]) -> str:
    if ranges == [(0, 65535)]:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def change_tokens(change: Change) -> list[tuple[str, str]]:
    """(kind, "proto ports") per protocol label: kind `same` for ports on both sides,
    `gained` for ports only after, `lost` for ports only before; by label, in that
    order within a label."""
    before = {label: _ranges(t) for label, t in change.before}
    after = {label: _ranges(t) for label, t in change.after}
    out: list[tuple[str, str]] = []
    for label in sorted({*before, *after}):
        b, a = before.get(label, []), after.get(label, [])
        for kind, ranges in (("same", _minus(b, _minus(b, a))), ("gained", _minus(a, b)),
                             ("lost", _minus(b, a))):
            if ranges:
                out.append((kind, f"{label} {_text(ranges)}"))
    return out


_MARK = {"same": "", "gained": "+", "lost": "-"}


def render_diff_text(matrix: Matrix, *, color: bool = False) -> str:
    """`render_text` for a diff grid: gained ports marked `+`, lost ones `-` (green and
    red on a terminal)."""
    if not matrix.rows:
        return "No access at either revision.\n"
    paint = {"same": lambda t: t,
             "gained": lambda t: f"\x1b[32m{t}\x1b[0m" if color else t,
             "lost": lambda t: f"\x1b[31m{t}\x1b[0m" if color else t}

    def cell(row: str, c: str) -> tuple[str, str]:  # (plain, shown)
        change = matrix.by_row.get(row, {}).get(c)
        if change is None:
            return "·", "·"
        tokens = change_tokens(change)
        return ("; ".join(_MARK[k] + t for k, t in tokens),
                "; ".join(paint[k](_MARK[k] + t) for k, t in tokens))

    head = [("from \\ to", "from \\ to"),
            *[(f"[{i}]", f"[{i}]") for i in range(1, len(matrix.columns) + 1)]]
    body = [[(row, row), *[cell(row, c) for c in matrix.columns]] for row in matrix.rows]
    widths = [max(len(line[i][0]) for line in [head, *body]) for i in range(len(head))]
    out = ["  ".join(shown + " " * (w - len(plain))
                     for (plain, shown), w in zip(line, widths, strict=True)).rstrip()
           for line in [head, *body]]
    out.append("")
    out.extend(f"[{i}] {c}" for i, c in enumerate(matrix.columns, 1))
    out.append("")
    out.append("+ports: gained; -ports: lost; others unchanged.")
    merged = [(label, ids) for label, ids in matrix.members.items()
              if len(ids) > 1 and not label.startswith(("group:", "devices of group:"))]
    if merged:
        out.append("")
        out.extend(f"{label}: {', '.join(ids)}" for label, ids in merged)
    return "\n".join(out) + "\n"


def render_diff_markdown(matrix: Matrix) -> str:
    if not matrix.rows:
        return "No access at either revision.\n"
    md = {"same": lambda t: _md(t), "gained": lambda t: f"**+{_md(t)}**",
          "lost": lambda t: f"~~{_md(t)}~~"}
    lines = ["| from \\ to | " + " | ".join(f"`{_md(c)}`" for c in matrix.columns) + " |",
             "|---|" + "---|" * len(matrix.columns)]
    for row in matrix.rows:
        cells = []
        for c in matrix.columns:
            change = matrix.by_row.get(row, {}).get(c)
            cells.append("·" if change is None else
                         "; ".join(md[k](t) for k, t in change_tokens(change)))
        lines.append(f"| `{_md(row)}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("**+ports**: gained; ~~ports~~: lost; plain: unchanged.")
    return "\n".join(lines) + "\n"


def render_diff_html(matrix: Matrix, title: str = "Access changes") -> str:
    """The diff grid as a page: changed cells tinted (green gained, red lost), each
    cell's before and after in `data-before` / `data-after` for tools."""
    legend = ('<p class="legend"><span class="gained">+gained</span> '
              '<span class="lost">lost</span> unchanged</p>')
    if not matrix.rows:
        return html_page(title, f"<h1>{html.escape(title)}</h1>\n"
                         '<p class="muted">No access at either revision.</p>\n',
                         style=DIFF_STYLE)
    out = ['<table class="matrix diff">', "<thead><tr><th>from \\ to</th>"]
    out.extend(f'<th scope="col">{html.escape(c)}</th>' for c in matrix.columns)
    out.append("</tr></thead><tbody>")
    for row in matrix.rows:
        members = matrix.members.get(row, [row])
        title_attr = f' title="{html.escape(", ".join(members))}"' if members != [row] else ""
        out.append(f'<tr><th scope="row"{title_attr}>{html.escape(row)}</th>')
        for c in matrix.columns:
            attrs = f'data-from="{html.escape(row)}" data-to="{html.escape(c)}"'
            change = matrix.by_row.get(row, {}).get(c)
            if change is None:
                out.append(f'<td class="none" {attrs}>·</td>')
                continue
            tokens = change_tokens(change)
            kinds = {k for k, _ in tokens}
            kind = ("lost" if "lost" in kinds else "gained" if "gained" in kinds
                    else "allowed")
            attrs += (f' data-before="{html.escape(ports_text(change.before))}"'
                      f' data-after="{html.escape(ports_text(change.after))}"')
            shown = "; ".join(
                html.escape(t) if k == "same" else
                f'<ins class="gained">+{html.escape(t)}</ins>' if k == "gained" else
                f'<del class="lost">{html.escape(t)}</del>' for k, t in tokens)
            out.append(f'<td class="{kind}" {attrs}>{shown}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return html_page(title, f"<h1>{html.escape(title)}</h1>\n{legend}\n"
                     + "\n".join(out) + "\n", style=DIFF_STYLE)


# --- renderers ---------------------------------------------------------------------------


def render_text(matrix: Matrix) -> str:
    """A grid for a terminal: numbered columns (their names in a legend below), so a
    wide tailnet stays readable in 100 columns per cell block."""
    return "".join(text_lines(matrix))


def text_lines(matrix: Matrix) -> Iterator[str]:
    """`render_text` a line at a time (each with its newline): a large tailnet's grid is
    hundreds of MB, better not held as lines, page and bytes at once."""
    if not matrix.rows:
        yield "No access.\n"
        return
    head = ["from \\ to", *[f"[{i}]" for i in range(1, len(matrix.columns) + 1)]]
    widths = [len(h) for h in head]
    widths[0] = max(widths[0], *(len(row) for row in matrix.rows))
    for row in matrix.rows:
        cells = matrix.by_row.get(row, {})
        for i, c in enumerate(matrix.columns, 1):
            widths[i] = max(widths[i], len(cells.get(c) or "·"))

    def line(cells: Iterable[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)
                         ).rstrip() + "\n"

    yield line(head)
    for row in matrix.rows:
        cells = matrix.by_row.get(row, {})
        yield line([row, *[cells.get(c) or "·" for c in matrix.columns]])
    yield "\n"
    for i, c in enumerate(matrix.columns, 1):
        yield f"[{i}] {c}\n"
    merged = [(label, ids) for label, ids in matrix.members.items()
              if len(ids) > 1 and not label.startswith(("group:", "devices of group:"))]
    if merged:
        yield "\n"
        for label, ids in merged:
            yield f"{label}: {', '.join(ids)}\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|") or " "


def render_markdown(matrix: Matrix) -> str:
    if not matrix.rows:
        return "No access.\n"
    lines = ["| from \\ to | " + " | ".join(f"`{_md(c)}`" for c in matrix.columns) + " |",
             "|---|" + "---|" * len(matrix.columns)]
    for row in matrix.rows:
        cells = [_md(matrix.cell(row, c)) if matrix.cell(row, c) else "·"
                 for c in matrix.columns]
        lines.append(f"| `{_md(row)}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


STYLE = """
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --line: #d0d7de;
  --muted: #656d76; --cell: #dafbe1; --risky: #ffebe9; --head: #f6f8fa; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --line: #30363d; --muted: #8d96a0;
    --cell: #033a16; --risky: #5d0f12; --head: #161b22; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); margin: 2rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table.matrix, table.list { border-collapse: collapse; }
table.matrix th, table.matrix td, table.list th, table.list td {
  border: 1px solid var(--line); padding: .35rem .55rem; vertical-align: top;
  text-align: left; }
table.list thead th, table.list tbody th { background: var(--head); }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
table.matrix thead th { background: var(--head); position: sticky; top: 0;
  writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
table.matrix tbody th { background: var(--head); white-space: nowrap; }
td.allowed { background: var(--cell); font-family: ui-monospace, monospace; font-size: 12px; }
td.risky { background: var(--risky); font-weight: 600; }
td.none { color: var(--muted); text-align: center; }
.muted { color: var(--muted); }
@media print { body { margin: 0; } table.matrix thead th { position: static; } }
"""


@lru_cache(maxsize=1 << 14)
def _escaped(text: str) -> str:
    return html.escape(text)


def render_html_table(matrix: Matrix, *, risky: set[tuple[str, str]] | None = None) -> str:
    """The grid as an HTML table; `data-from`/`data-to` name each cell for tools."""
    if not matrix.rows:
        return '<p class="muted">No access.</p>\n'
    risky = risky or set()
    out = ['<table class="matrix">', "<thead><tr><th>from \\ to</th>"]
    escaped = [html.escape(c) for c in matrix.columns]
    out.extend(f'<th scope="col">{c}</th>' for c in escaped)
    out.append("</tr></thead><tbody>")
    for row in matrix.rows:
        members = matrix.members.get(row, [row])
        title = f' title="{html.escape(", ".join(members))}"' if members != [row] else ""
        out.append(f'<tr><th scope="row"{title}>{html.escape(row)}</th>')
        # Escaped once per row and column, not per cell: a large grid has millions.
        start = f'data-from="{html.escape(row)}" data-to="'
        cells = matrix.by_row.get(row, {})
        for c, to in zip(matrix.columns, escaped, strict=True):
            text = cells.get(c)
            if text:
                kind = "allowed risky" if (row, c) in risky else "allowed"
                out.append(f'<td class="{kind}" {start}{to}">{_escaped(text)}</td>')
            else:
                out.append(f'<td class="none" {start}{to}">·</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


# A diff grid's cells: gained ports green, lost ones red and struck through; the cell
# tinted by its largest change (a loss over a gain). Its own colours in dark mode.
DIFF_STYLE = """
:root { --gained: #1a7f37; --gained-bg: #dafbe1; --lost: #cf222e; --lost-bg: #ffebe9; }
@media (prefers-color-scheme: dark) {
  :root { --gained: #3fb950; --gained-bg: #033a16; --lost: #ff7b72; --lost-bg: #5d0f12; } }
td.allowed, td.gained, td.lost { font-family: ui-monospace, monospace; font-size: 12px; }
td.gained { background: var(--gained-bg); } td.lost { background: var(--lost-bg); }
table.diff td.allowed { background: transparent; }
ins.gained, span.gained { color: var(--gained); text-decoration: none; font-weight: 600; }
del.lost, span.lost { color: var(--lost); text-decoration: line-through; }
p.legend span { margin-right: 1rem; }
"""


def html_page(title: str, body: str, *, style: str = "") -> str:
    """A self-contained page: inline CSS, no script, nothing fetched from anywhere."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<style>{STYLE}{style}</style></head>\n<body>\n{body}</body></html>\n")


def render_html(matrix: Matrix, title: str = "Access matrix") -> str:
    return html_page(title, f"<h1>{html.escape(title)}</h1>\n{render_html_table(matrix)}")
