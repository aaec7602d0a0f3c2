"""The access grid: aggregation that stays exact, and its formats through the real CLI.

Every cell of the grid is checked against `reconciler access --format json` (the flat
list of identity pairs): a merged row or column must say, for each of its members,
exactly what the flat list says for that member.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import Scale, generate
from reconciler.core.errors import CompileError
from reconciler.engine import compute_access, inventory_from_data
from reconciler.render.matrix import (
    OWN,
    Row,
    build,
    build_shared,
    render_markdown,
    simplify,
)
from tests.conftest import examples
from tests.engine.test_access_fast import GROUPS, HOSTS, TAGS, _inventory, acl, device, grant
from tests.report.conftest import access_entries, expected_cells, reconciler


def test_simplify_drops_what_a_wider_star_covers() -> None:
    assert simplify([("tcp", "443"), ("tcp/udp/icmp", "*")]) == (("tcp/udp/icmp", "*"),)
    assert simplify([("tcp", "*"), ("tcp/udp/icmp", "*")]) == (("tcp/udp/icmp", "*"),)
    assert simplify([("tcp", "443"), ("udp", "*")]) == (("tcp", "443"), ("udp", "*"))
    assert simplify([("tcp", "22"), ("tcp", "22")]) == (("tcp", "22"),)


def test_rows_merge_only_identical_access_and_name_groups() -> None:
    groups = {"group:sre": ["a@x.io", "b@x.io"], "group:eng": ["c@x.io", "d@x.io", "e@x.io"]}
    rows = [Row("a@x.io", "tag:prod", (("tcp", "22"),)),
            Row("b@x.io", "tag:prod", (("tcp", "22"),)),
            Row("c@x.io", "tag:prod", (("tcp", "443"),)),
            Row("d@x.io", "tag:prod", (("tcp", "443"),)),
            Row("e@x.io", "tag:prod", (("tcp", "443"),)),
            Row("e@x.io", "tag:db", (("tcp", "5432"),)),
            Row("tag:ci", "tag:prod", (("tcp", "22"),)),
            Row("a@x.io", "a@x.io", (("tcp/udp/icmp", "*"),))]
    grid = build(rows, groups)
    # a and b differ (only a reaches its own devices): no "group:sre" row may claim both.
    assert "group:sre" not in grid.rows
    assert grid.cell("a@x.io", OWN) == "tcp/udp/icmp *"
    assert grid.cell("b@x.io", "tag:prod") == "tcp 22"
    assert grid.cell("group:eng except e@x.io", "tag:prod") == "tcp 443"
    assert grid.cell("e@x.io", "tag:db") == "tcp 5432"
    assert grid.rows[-1] == "tag:ci"  # tags as sources come after people
    assert grid.columns == ["tag:db", "tag:prod", OWN]
    md = render_markdown(grid)
    assert md.splitlines()[0] == "| from \\ to | `tag:db` | `tag:prod` | `(own devices)` |"


def test_every_grid_cell_matches_the_flat_list() -> None:
    flat = reconciler("access", "--format", "json")
    assert flat.returncode == 0, flat.stderr
    expected = expected_cells(access_entries(json.loads(flat.stdout)))
    html = reconciler("access", "--format", "html")
    assert html.returncode == 0, html.stderr
    cells = _cells_of(html.stdout)
    members = _members(html.stdout)
    assert cells, "no cells in the html grid"
    checked = 0
    for (row, column), text in cells.items():
        for src in members.get(row, [row]):
            for dst in members.get(column, [column]):
                assert expected.get((src, dst), "") == text, (row, column, src, dst)
                checked += 1
    # And nothing the flat list has is missing from the grid.
    shown = {(src, dst) for (row, column), text in cells.items() if text
             for src in members.get(row, [row]) for dst in members.get(column, [column])}
    assert set(expected) <= shown
    assert checked >= len(expected)


def _cells_of(page: str) -> dict[tuple[str, str], str]:
    import html as htmllib
    import re

    out = {}
    for m in re.finditer(r'<td class="([^"]*)" data-from="([^"]*)" data-to="([^"]*)">'
                         r"([^<]*)</td>", page):
        text = htmllib.unescape(m.group(4))
        out[(htmllib.unescape(m.group(2)), htmllib.unescape(m.group(3)))] = \
            "" if "none" in m.group(1) else text
    return out


def _members(page: str) -> dict[str, list[str]]:
    """Row labels that stand for several users carry them in their title."""
    import html as htmllib
    import re

    return {htmllib.unescape(m.group(2)): htmllib.unescape(m.group(1)).split(", ")
            for m in re.finditer(r'<th scope="row" title="([^"]*)">([^<]*)</th>', page)}


def test_matrix_text_and_markdown_formats() -> None:
    text = reconciler("access", "--format", "matrix")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("from \\ to")
    assert any(line.startswith("group:sre ") for line in lines)
    assert "[1] tag:db" in lines
    md = reconciler("access", "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("| from \\ to |")
    assert "| `group:sre` |" in md.stdout


def _grids(policy: dict[str, Any], inventory: Any) -> tuple[Any, Any]:
    groups, tags = policy.get("groups") or {}, policy.get("tagOwners") or {}
    matrix = compute_access(policy, inventory)
    plain = build([Row(e.src, e.dst, e.ports) for e in matrix.entries()], groups, tags=tags)
    return plain, build_shared(matrix.shared_rows, groups, tags=tags)


def _same_grid(plain: Any, shared: Any) -> None:
    assert shared.rows == plain.rows
    assert shared.columns == plain.columns
    assert shared.cells == plain.cells
    assert list(shared.members.items()) == list(plain.members.items())


def test_grid_from_shared_rows_equals_grid_from_pairs() -> None:
    """The grid the CLI builds from the engine's shared rows is the one the flat pairs
    give, on a benchmark tailnet (sources sharing autogroup:member and group rows)."""
    policy, data = generate(Scale("tiny", 120, 10, 150), 4)
    plain, shared = _grids(policy, inventory_from_data(data))
    assert len(plain.rows) > 10 and plain.cells
    _same_grid(plain, shared)



self_grant = st.fixed_dictionaries({
    "src": st.lists(st.sampled_from([*GROUPS, "autogroup:member", "a@x.com"]),
                    min_size=1, max_size=2),
    "dst": st.just(["autogroup:self"]), "ip": st.just(["*"])})


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(devices=st.lists(device, max_size=8), acls=st.lists(acl, max_size=4),
       grants=st.lists(st.one_of(grant, self_grant), max_size=4))
def test_grid_from_shared_rows_equals_grid_from_pairs_property(
        devices: list[Any], acls: list[Any], grants: list[Any]) -> None:
    """Shared addresses, several tags per device, autogroup:self, users reaching their
    own identity through ordinary rules: the shared-row grid is the pairs' grid."""
    policy = {"groups": GROUPS, "tagOwners": {t: [] for t in TAGS}, "hosts": HOSTS,
              "acls": acls, "grants": grants}
    try:
        plain, shared = _grids(policy, inventory_from_data(_inventory(devices)))
    except CompileError:  # a policy the compiler refuses: nothing to compare
        return
    _same_grid(plain, shared)
