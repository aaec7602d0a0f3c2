"""The access grid as it was built before cells became numbers (main at 304761d): rows
held as dicts of strings, risk judged per cell and member. Only an oracle for
tests/report/test_grid_reference.py, which pins the compact grid, its renderers and the
report's risk marks to it byte for byte; never used by the tool.
"""
# ruff: noqa

from __future__ import annotations

import html
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.risk import assess, home_domains
from reconciler.render.matrix import (OWN, Change, Ports, Row, _escaped, _is_user, _md,
                                      html_page, ports_text, simplify)

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


def render_html(matrix: Matrix, title: str = "Access matrix") -> str:
    return html_page(title, f"<h1>{html.escape(title)}</h1>\n{render_html_table(matrix)}")


def risky_cells(matrix: Matrix, sensitive: Sequence[str]) -> set[tuple[str, str]]:
    """Cells that are risky by `reconciler.engine.risk` (see the module docstring); a row of
    several people is judged by each of them."""
    people = [m for members in matrix.members.values() for m in members]
    domains = home_domains([*people, *matrix.rows])
    out = set()
    for (row, column), text in matrix.cells.items():
        whos = matrix.members.get(row, [row])
        for part in text.split("; "):
            label, _, ports = part.partition(" ")
            if any(assess(who, column, label, ports, sensitive=sensitive,
                          domains=domains).risky for who in (row, *whos)):
                out.add((row, column))
                break
    return out

