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
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

Ports = tuple[tuple[str, str], ...]  # (protocol label, ports text), as the engine gives them

OWN = "(own devices)"


@dataclass(frozen=True)
class Row:
    """One access row: an identity's reach, before aggregation."""

    src: str
    dst: str
    ports: Ports


class Matrix:
    """The grid: row and column labels in display order, and each row's cells.

    A large grid has millions of cells, so they are not held as strings per row: every
    distinct (column, value) cell is one entry of `table`, and a row is the tuple of its
    entries' numbers (`row_ids`). `by_row` and `cells` give the usual mapping views, built
    on demand for small grids; the renderers read the compact form."""

    def __init__(self, rows: list[str] | None = None, columns: list[str] | None = None,
                 members: dict[str, list[str]] | None = None,
                 row_ids: dict[str, tuple[int, ...]] | None = None,
                 table: list[tuple[str, Any]] | None = None) -> None:
        self.rows: list[str] = rows if rows is not None else []  # display order
        self.columns: list[str] = columns if columns is not None else []
        self.members: dict[str, list[str]] = members if members is not None else {}
        self.row_ids: dict[str, tuple[int, ...]] = row_ids if row_ids is not None else {}
        # cell number -> (column, value): the value a ports text (a `Change` in a diff grid)
        self.table: list[tuple[str, Any]] = table if table is not None else []

    def row_cells(self, row: str) -> Iterator[tuple[str, Any]]:
        """(column, value) of each cell of `row`."""
        table = self.table
        return (table[i] for i in self.row_ids.get(row, ()))

    @property
    def by_row(self) -> dict[str, dict[str, Any]]:
        """row -> column -> value, every cell: a copy, for small grids."""
        return {row: dict(self.row_cells(row)) for row in self.row_ids}

    @property
    def cells(self) -> Mapping[tuple[str, str], Any]:
        """(row, column) -> value, every cell: a copy, for small grids."""
        return {(row, c): v for row in self.row_ids for c, v in self.row_cells(row)}

    def cell(self, row: str, column: str) -> Any:
        found: Any = ""
        for c, value in self.row_cells(row):
            if c == column:
                found = value
        return found


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


class _Labels:
    """A row's or column's name: a group's name when `identities` are exactly its
    members; else the identities. The groups' member sets made once, not per call."""

    def __init__(self, groups: Mapping[str, Sequence[str]]) -> None:
        self._groups = groups
        self._exact: dict[frozenset[str], str] = {}
        self._by_size: dict[int, list[tuple[int, str, frozenset[str]]]] = {}
        for g, members in groups.items():
            wanted = frozenset(members)
            first = self._exact.get(wanted)
            if first is None or g < first:  # the first by name, of equal groups
                self._exact[wanted] = g
            self._by_size.setdefault(len(wanted), []).append((len(members), g, wanted))

    def __call__(self, identities: Sequence[str]) -> str:
        wanted = frozenset(identities)
        exact = self._exact.get(wanted)
        if exact is not None:
            return exact
        # Most of a group, the rest of it elsewhere (a member also in a group with more
        # access): name the group and the few left out.
        near = sorted((size, g) for extra in (1, 2) if len(wanted) >= 2 and extra <= min(
            2, len(wanted) - 1) for size, g, members in self._by_size.get(
            len(wanted) + extra, ()) if wanted < members)
        if near:
            group = near[0][1]
            return f"{group} except {', '.join(sorted(set(self._groups[group]) - wanted))}"
        shown = sorted(identities)
        return ", ".join(shown) if len(shown) <= 3 else \
            f"{', '.join(shown[:3])} +{len(shown) - 3}"


def _label(identities: Sequence[str], groups: Mapping[str, Sequence[str]]) -> str:
    """A group's name when `identities` are exactly its members; else the identities."""
    return _Labels(groups)(identities)


class _Table:
    """The distinct (destination, value) cells of a grid, numbered in order of arrival,
    with each value numbered too (equal values, equal numbers)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, Any], int] = {}
        self.cells: list[tuple[str, Any]] = []
        self.values: dict[Any, int] = {}
        self.vid: list[int] = []  # cell number -> its value's number

    def id(self, dst: str, value: Any) -> int:
        key = (dst, value)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.cells)
            self.cells.append(key)
            self.vid.append(self.values.setdefault(value, len(self.values)))
        return found


def build(rows: Iterable[Row], groups: Mapping[str, Sequence[str]], *,
          tags: Iterable[str] = ()) -> Matrix:
    """Aggregate identity-level rows into the grid described in the module docstring."""
    reach: dict[str, dict[str, Ports]] = {}
    for r in rows:
        dst = OWN if r.dst == r.src and _is_user(r.src) else r.dst
        cell = reach.setdefault(r.src, {})
        cell[dst] = simplify([*cell.get(dst, ()), *r.ports])
    table = _Table()
    return _assemble(((src, tuple(table.id(dst, ports_text(ports))
                                  for dst, ports in sorted(reach[src].items())))
                      for src in sorted(reach)), groups, tags, table)


SharedRows = Iterable[tuple[str, Sequence[tuple[str, Any]], Ports | None, bool]]


def build_shared(shared_rows: Callable[..., SharedRows] | SharedRows,
                 groups: Mapping[str, Sequence[str]], *, tags: Iterable[str] = ()) -> Matrix:
    """`build` from the engine's shared rows: `shared_rows` is
    `AccessMatrix.shared_rows`, called with a `cell` that numbers each (destination,
    ports) pair as the grid's cell, so that a source's row is its list's numbers. Per
    source it gives its sorted (destination, number) list, its cell to itself when
    autogroup:self widens it, and whether the list is shared. The same grid as `build`
    on the flat pairs, with the work per distinct pair of a list instead of per identity
    pair: the pairs grow as sources x destinations (4.7M on a 10k-device tailnet).
    (The rows `shared_rows()` gives, with (destination, ports) pairs, do as well, with
    the work per pair of every row.)"""
    table = _Table()
    known: dict[tuple[str, Ports], int] = {}

    def cell(dst: str, ports: Ports) -> int:
        found = known.get((dst, ports))
        if found is None:
            found = known[(dst, ports)] = table.id(dst, ports_text(_simplified(ports)))
        return found

    def key_of(src: str, items: Sequence[tuple[str, int]], own: Ports | None
               ) -> tuple[int, ...]:
        ids = tuple(map(_second, items))
        # Items are sorted (destination, number) pairs: (src,) sorts just before src's own.
        pos = bisect_left(items, (src,)) if _is_user(src) else len(items)
        here = pos < len(items) and items[pos][0] == src
        if own is None and not here:
            return ids
        mine = table.cells[items[pos][1]][1] if own is None else \
            ports_text(_simplified(own))
        rest = ids[:pos] + ids[pos + 1:] if here else ids
        return (*rest, table.id(OWN, mine))

    rows = shared_rows(cell=cell) if callable(shared_rows) else (
        (src, [(dst, cell(dst, ports)) for dst, ports in items], own, shared)
        for src, items, own, shared in shared_rows)
    return _assemble(((src, key_of(src, items, own)) for src, items, own, _ in rows),
                     groups, tags, table)


_second = itemgetter(1)


@lru_cache(maxsize=1 << 14)
def _simplified(ports: Ports) -> Ports:
    return simplify(ports)


def _assemble(rows: Iterable[tuple[str, tuple[int, ...]]], groups: Mapping[str, Sequence[str]],
              tags: Iterable[str], table: _Table) -> Matrix:
    """The grid from (source, its cells' numbers in `table`) in source order: users with
    equal rows become one row; tags stay apart."""
    by_reach: dict[tuple[int, ...], list[str]] = {}
    tag_rows: list[tuple[str, tuple[int, ...]]] = []
    for src, key in rows:
        if _is_user(src):
            by_reach.setdefault(key, []).append(src)
        else:
            tag_rows.append((src, key))
    label_of = _Labels(groups)
    labelled = [(label_of(ids), ids, key) for key, ids in by_reach.items()]
    labelled.sort(key=lambda t: (t[0].startswith("group:") is False, t[0]))
    matrix = Matrix(table=list(table.cells))
    dst_of = table.cells
    for label, ids, key in [*labelled, *((src, [src], key) for src, key in tag_rows)]:
        matrix.rows.append(label)
        matrix.members[label] = ids
        before = matrix.row_ids.get(label)
        if before is not None:  # a label met twice: its cells the union, the later kept
            merged = {dst_of[i][0]: i for i in before}
            merged.update((dst_of[i][0], i) for i in key)
            key = tuple(merged.values())
        matrix.row_ids[label] = key
    _merge_user_columns(matrix, label_of, table.vid)
    known_tags = set(tags)
    used: set[int] = set().union(*matrix.row_ids.values())
    columns = {matrix.table[i][0] for i in used}
    tag_cols = sorted(c for c in columns if c.startswith("tag:") or c in known_tags)
    user_cols = sorted(c for c in columns if c.startswith("devices of "))
    own = [OWN] if OWN in columns else []
    other = sorted(columns - set(tag_cols) - set(user_cols) - set(own))
    matrix.columns = tag_cols + other + own + user_cols
    return matrix


def _merge_user_columns(matrix: Matrix, label_of: _Labels, vid: list[int]) -> None:
    """Users as destinations (another user's devices): equal columns become one."""
    table = matrix.table
    user_cell = [_is_user(dst) for dst, _ in table]
    if not any(user_cell):
        return
    # Cell number -> the numbers of the rows holding it, for users' cells; the loop per
    # cell stays in C (a large grid has millions of them). A column is equal to another
    # when each value is in the same rows of both (a row has one cell per column).
    empty: array[int] = array("i")  # never filled: other cells are filtered out
    rows_of = [array("i") if flag else empty for flag in user_cell]
    append: Callable[[array[int], int], None] = array.append
    for r, ids in enumerate(matrix.row_ids.values()):
        deque(map(append, map(rows_of.__getitem__, filter(user_cell.__getitem__, ids)),
                  repeat(r)), maxlen=0)
    by_user: dict[str, list[tuple[int, bytes]]] = {}
    for i, held in enumerate(rows_of):
        if held:
            by_user.setdefault(table[i][0], []).append((vid[i], held.tobytes()))
    by_column: dict[tuple[tuple[int, bytes], ...], list[str]] = {}
    for user in sorted(by_user):
        by_column.setdefault(tuple(sorted(by_user[user])), []).append(user)
    renamed: dict[str, str] = {}
    for users in by_column.values():
        label = f"devices of {label_of(users)}"
        renamed.update((user, label) for user in users)
        matrix.members[label] = users
    for i, (dst, value) in enumerate(table):
        if user_cell[i] and dst in renamed:
            table[i] = (renamed[dst], value)


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
    table = _Table()
    return _assemble(((src, tuple(table.id(dst, Change(*pair))
                                  for dst, pair in sorted(reach[src].items())))
                      for src in sorted(reach)), groups, tags, table)


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
    by_row = matrix.by_row
    paint = {"same": lambda t: t,
             "gained": lambda t: f"\x1b[32m{t}\x1b[0m" if color else t,
             "lost": lambda t: f"\x1b[31m{t}\x1b[0m" if color else t}

    def cell(row: str, c: str) -> tuple[str, str]:  # (plain, shown)
        change = by_row.get(row, {}).get(c)
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
    by_row = matrix.by_row
    md = {"same": lambda t: _md(t), "gained": lambda t: f"**+{_md(t)}**",
          "lost": lambda t: f"~~{_md(t)}~~"}
    lines = ["| from \\ to | " + " | ".join(f"`{_md(c)}`" for c in matrix.columns) + " |",
             "|---|" + "---|" * len(matrix.columns)]
    for row in matrix.rows:
        cells = []
        for c in matrix.columns:
            change = by_row.get(row, {}).get(c)
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
    by_row = matrix.by_row
    out = ['<table class="matrix diff">', "<thead><tr><th>from \\ to</th>"]
    out.extend(f'<th scope="col">{html.escape(c)}</th>' for c in matrix.columns)
    out.append("</tr></thead><tbody>")
    for row in matrix.rows:
        members = matrix.members.get(row, [row])
        title_attr = f' title="{html.escape(", ".join(members))}"' if members != [row] else ""
        out.append(f'<tr><th scope="row"{title_attr}>{html.escape(row)}</th>')
        for c in matrix.columns:
            attrs = f'data-from="{html.escape(row)}" data-to="{html.escape(c)}"'
            change = by_row.get(row, {}).get(c)
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


def _positions(matrix: Matrix, first: int = 0) -> list[int]:
    """Cell number -> the index of its column in `matrix.columns`, plus `first` (-1 for
    a cell no row holds any more)."""
    index = {c: i + first for i, c in enumerate(matrix.columns)}
    return [index.get(c, -1) for c, _ in matrix.table]


def _used(matrix: Matrix) -> set[int]:
    return set().union(*matrix.row_ids.values())


def _lines(matrix: Matrix, blank: list[str], shown: Callable[[int], str], first: int
           ) -> Iterator[tuple[str, list[str]]]:
    """Each row and its cells' strings in column order (`blank` where it has none,
    `shown(cell number)` where it has one), `first` places after the start of `blank`:
    filled from the row's cells rather than looked up per column, as most rows of a
    large grid are mostly empty or mostly full."""
    pos = _positions(matrix, first)
    strings = [""] * len(matrix.table)
    for i in _used(matrix):
        strings[i] = shown(i)
    for row in matrix.rows:
        line = blank.copy()
        for i in matrix.row_ids.get(row, ()):
            line[pos[i]] = strings[i]
        yield row, line


def text_lines(matrix: Matrix) -> Iterator[str]:
    """`render_text` a line at a time (each with its newline): a large tailnet's grid is
    hundreds of MB, better not held as lines, page and bytes at once."""
    if not matrix.rows:
        yield "No access.\n"
        return
    head = ["from \\ to", *[f"[{i}]" for i in range(1, len(matrix.columns) + 1)]]
    widths = [len(h) for h in head]
    widths[0] = max(widths[0], *(len(row) for row in matrix.rows))
    pos = _positions(matrix, 1)
    table = matrix.table
    for i in _used(matrix):
        widths[pos[i]] = max(widths[pos[i]], len(table[i][1] or "·"))

    def line(cells: Iterable[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)
                         ).rstrip() + "\n"

    yield line(head)
    blank = ["", *("·".ljust(w) for w in widths[1:])]
    for row, cells in _lines(matrix, blank,
                             lambda i: (table[i][1] or "·").ljust(widths[pos[i]]), 1):
        cells[0] = row.ljust(widths[0])
        yield "  ".join(cells).rstrip() + "\n"
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
    return "".join(markdown_lines(matrix))


def markdown_lines(matrix: Matrix) -> Iterator[str]:
    """`render_markdown` a line at a time (each with its newline)."""
    if not matrix.rows:
        yield "No access.\n"
        return
    yield "| from \\ to | " + " | ".join(f"`{_md(c)}`" for c in matrix.columns) + " |\n"
    yield "|---|" + "---|" * len(matrix.columns) + "\n"
    table = matrix.table
    for row, cells in _lines(matrix, ["·"] * len(matrix.columns),
                             lambda i: _md(table[i][1]) if table[i][1] else "·", 0):
        yield f"| `{_md(row)}` | " + " | ".join(cells) + " |\n"


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
@media print { body { margin: 0; } table.matrix thead th { position: static; }
  /* Cell tints carry meaning (allowed, risky, gained, lost): print them even with the
     browser's "background graphics" off, its default. */
  td, th, tr { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


@lru_cache(maxsize=1 << 14)
def _escaped(text: str) -> str:
    return html.escape(text)


@dataclass(frozen=True)
class Marks:
    """Which cells an HTML grid marks risky: `cell(row_kind(row), column, text)`, which
    depends on the row only through its kind (a few kinds: judged once per kind and
    cell, not per row and cell)."""

    row_kind: Callable[[str], Hashable]
    cell: Callable[[Hashable, str, str], bool]


def render_html_table(matrix: Matrix, *, marks: Marks | None = None) -> str:
    """The grid as an HTML table; `data-from`/`data-to` name each cell for tools."""
    return "".join(html_table_chunks(matrix, marks=marks))


def html_table_chunks(matrix: Matrix, *, marks: Marks | None = None) -> Iterator[str]:
    """`render_html_table` in pieces, a row at a time."""
    if not matrix.rows:
        yield '<p class="muted">No access.</p>\n'
        return
    escaped = [html.escape(c) for c in matrix.columns]
    yield "\n".join(['<table class="matrix">', "<thead><tr><th>from \\ to</th>",
                     *(f'<th scope="col">{c}</th>' for c in escaped),
                     "</tr></thead><tbody>"])
    # A cell is `<td class="KIND" data-from="` + the row + `" data-to="...">...</td>`:
    # a row is its cells' two halves with the row between them, the halves made once per
    # cell (and per row kind for the first), not once per row and cell.
    table = matrix.table
    pos = _positions(matrix)
    used = _used(matrix)
    none_left = '<td class="none" data-from="'
    right: list[str | None] = [None] * len(table)
    for i in used:
        text = table[i][1]
        right[i] = (f'" data-to="{escaped[pos[i]]}">{_escaped(text)}</td>\n' if text else
                    f'" data-to="{escaped[pos[i]]}">·</td>\n')
    lefts: dict[Hashable, list[str | None]] = {}

    def left_of(kind: Hashable) -> list[str | None]:
        found = lefts.get(kind)
        if found is None:
            found = lefts[kind] = [None] * len(table)
            for i in used:
                column, text = table[i]
                found[i] = (none_left if not text else
                            '<td class="allowed risky" data-from="'
                            if marks is not None and marks.cell(kind, column, text) else
                            '<td class="allowed" data-from="')
        return found

    blank: list[str | None] = []
    for to in escaped:
        blank += [none_left, None, f'" data-to="{to}">·</td>\n']
    for row in matrix.rows:
        members = matrix.members.get(row, [row])
        title = f' title="{html.escape(", ".join(members))}"' if members != [row] else ""
        line = blank.copy()
        line[1::3] = [html.escape(row)] * len(escaped)
        left = left_of(marks.row_kind(row) if marks is not None else None)
        for i in matrix.row_ids.get(row, ()):
            p = 3 * pos[i]
            line[p] = left[i]
            line[p + 2] = right[i]
        yield f'\n<tr><th scope="row"{title}>{html.escape(row)}</th>\n'
        yield "".join(line)  # type: ignore[arg-type]
        yield "</tr>"
    yield "\n</tbody></table>\n"


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


def page_start(title: str, *, style: str = "") -> str:
    """A self-contained page up to its body: inline CSS, no script, nothing fetched from
    anywhere. The body follows, then `PAGE_END`."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<style>{STYLE}{style}</style></head>\n<body>\n")


PAGE_END = "</body></html>\n"


def html_page(title: str, body: str, *, style: str = "") -> str:
    """A self-contained page: inline CSS, no script, nothing fetched from anywhere."""
    return page_start(title, style=style) + body + PAGE_END


def render_html(matrix: Matrix, title: str = "Access matrix") -> str:
    return "".join(html_chunks(matrix, title))


def html_chunks(matrix: Matrix, title: str = "Access matrix") -> Iterator[str]:
    """`render_html` in pieces: a large grid's page is hundreds of MB."""
    yield page_start(title)
    yield f"<h1>{html.escape(title)}</h1>\n"
    yield from html_table_chunks(matrix)
    yield PAGE_END
