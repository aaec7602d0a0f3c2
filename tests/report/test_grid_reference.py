"""The compact grid (cells as numbers, rows filled from them, pages streamed) against the
grid as it was (`tests/report/grid_reference.py`: rows as dicts of strings, risk judged
per cell and member): the same rows, columns, members and cells, the same text,
markdown and HTML byte for byte, the same risky cells in the report, on hypothesis
tailnets (outside domains and groups, sensitive tags, autogroup:self, shared
addresses) and on a generated one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import Scale, generate
from reconciler.core.errors import CompileError
from reconciler.engine import compute_access, inventory_from_data
from reconciler.render import matrix as grid
from reconciler.render import report as page
from tests.conftest import examples
from tests.engine.test_access_fast import GROUPS, HOSTS, TAGS, _inventory, acl, device, grant
from tests.report import grid_reference as ref
from tests.report.test_matrix import reconciler, self_grant

# A group named like contractors and a user of another domain (c@y.com): rows from
# outside, so that the report's risk marks have all three questions to answer.
POLICY_GROUPS = {**GROUPS, "group:contractors": ["c@y.com", "d@x.com"]}


def _compare(policy: dict[str, Any], inventory: Any, sensitive: list[str]) -> None:
    groups, tags = policy.get("groups") or {}, policy.get("tagOwners") or {}
    access = compute_access(policy, inventory)
    new = grid.build_shared(access.shared_rows, groups, tags=tags)
    listed = grid.build_shared(access.shared_rows(), groups, tags=tags)  # as rows given
    assert (listed.rows, listed.columns, listed.members, listed.cells) == \
        (new.rows, new.columns, new.members, new.cells)
    old = ref.build([grid.Row(e.src, e.dst, e.ports) for e in access.entries()], groups,
                    tags=tags)
    assert new.rows == old.rows
    assert new.columns == old.columns
    assert list(new.members.items()) == list(old.members.items())
    assert new.cells == dict(old.cells)
    assert new.by_row == old.by_row
    assert "".join(grid.text_lines(new)) == ref.render_text(old)
    assert "".join(grid.markdown_lines(new)) == ref.render_markdown(old)
    assert "".join(grid.html_chunks(new)) == ref.render_html(old)
    risky = ref.risky_cells(old, sensitive)
    assert page.risky_cells(new, sensitive) == risky
    assert grid.render_html_table(new, marks=page.risk_marks(new, sensitive)) == \
        ref.render_html_table(old, risky=risky)


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(devices=st.lists(device, max_size=8), acls=st.lists(acl, max_size=4),
       grants=st.lists(st.one_of(grant, self_grant), max_size=4),
       sensitive=st.lists(st.sampled_from([*TAGS, "*", "a@x.com", "(own devices)"]),
                          max_size=3, unique=True))
def test_compact_grid_is_the_reference_grid(devices: list[Any], acls: list[Any],
                                            grants: list[Any], sensitive: list[str]) -> None:
    policy = {"groups": POLICY_GROUPS, "tagOwners": {t: [] for t in TAGS}, "hosts": HOSTS,
              "acls": acls, "grants": grants}
    try:
        _compare(policy, inventory_from_data(_inventory(devices)), sensitive)
    except CompileError:  # a policy the compiler refuses: nothing to compare
        return


def test_a_row_is_risky_by_any_of_its_members() -> None:
    """group:ops is b@x.com and c@y.com, whose domain is not the tailnet's: SSH to a
    device is risky for that row by c alone (neither the label nor b is from outside)."""
    policy = {"groups": POLICY_GROUPS, "tagOwners": {t: [] for t in TAGS},
              "grants": [{"src": ["group:ops"], "dst": ["tag:web"], "ip": ["tcp:22"]},
                         {"src": ["a@x.com", "d@x.com"], "dst": ["tag:web"],
                          "ip": ["tcp:443"]}]}
    devices = [{"ipv4": f"100.64.0.{i}", "ipv6": None, **owner} for i, owner in enumerate(
        [{"user": "a@x.com"}, {"user": "b@x.com"}, {"user": "c@y.com"},
         {"user": "d@x.com"}, {"tags": ["tag:web"]}], 1)]
    inventory = inventory_from_data(_inventory(devices))
    _compare(policy, inventory, [])
    matrix = grid.build_shared(compute_access(policy, inventory).shared_rows,
                               POLICY_GROUPS, tags=TAGS)
    assert matrix.members["group:ops"] == ["b@x.com", "c@y.com"]
    assert page.risky_cells(matrix, []) == {("group:ops", "tag:web")}


def test_compact_grid_is_the_reference_grid_on_a_generated_tailnet() -> None:
    """Groups sharing members, users reaching other users' devices (merged columns),
    many rows from shared selector lists."""
    policy, data = generate(Scale("tiny", 150, 10, 200), 7)
    tags = sorted(policy.get("tagOwners") or {})
    _compare(policy, inventory_from_data(data), tags[:2])


def test_diff_grid_is_the_reference_diff_grid() -> None:
    policy, data = generate(Scale("tiny", 120, 10, 150), 3)
    after = {**policy, "acls": (policy.get("acls") or [])[::2]}
    inventory = inventory_from_data(data)
    sides = [[grid.Row(e.src, e.dst, e.ports) for e in compute_access(p, inventory).entries()]
             for p in (policy, after)]
    groups = policy.get("groups") or {}
    new = grid.build_diff(*sides, groups, tags=policy.get("tagOwners") or {})
    old = ref.build_diff(*sides, groups, tags=policy.get("tagOwners") or {})
    assert (new.rows, new.columns, new.members) == (old.rows, old.columns, old.members)
    assert new.cells == dict(old.cells) and new.cells


def test_the_report_page_is_written_in_pieces(tmp_path: Path) -> None:
    """The page is laid out a row of the grid at a time: no piece holds the grid, and
    the pieces are the page `-o` writes."""
    policy, data = generate(Scale("tiny", 150, 10, 200), 7)
    inventory = inventory_from_data(data)
    groups = policy.get("groups") or {}
    matrix = grid.build_shared(compute_access(policy, inventory).shared_rows, groups,
                               tags=sorted(policy.get("tagOwners") or {}))
    report = page.Report(title="Access report", facts=[("revision", "x")], matrix=matrix,
                         sensitive=[], sensitive_source="none",
                         now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    pieces = list(page.chunks(report))
    whole = "".join(pieces)
    assert whole == page.render(report)
    assert len(matrix.rows) > 10
    assert max(map(len, pieces)) < len(whole) / 5, [len(p) for p in pieces][:20]


def test_report_to_a_file_is_the_report_on_stdout(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    to_file = reconciler("--now", "2026-01-01T00:00:00Z", "report", "-o", str(out))
    assert to_file.returncode == 0, to_file.stderr
    on_stdout = reconciler("--now", "2026-01-01T00:00:00Z", "report")
    assert on_stdout.returncode == 0, on_stdout.stderr
    assert out.read_text(encoding="utf-8") == on_stdout.stdout
    assert on_stdout.stdout.startswith("<!DOCTYPE html>")
    assert on_stdout.stdout.endswith("</body></html>\n")
