"""Access diff renderers: golden Markdown with its Mermaid graph, the edge cap, text."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.source import Location, SourceMap
from reconciler.diff.access import access_diff
from reconciler.render.access_diff import render_markdown, render_text
from tests.access.test_access_diff import GROUPS, INV, OWNERS, inv

GOLDEN = Path(__file__).parent / "golden"


def _diff():  # type: ignore[no-untyped-def]
    before = {"groups": GROUPS, "tagOwners": OWNERS, "grants": [
        {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
        {"src": ["carol@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]}]}
    after = {"groups": GROUPS, "tagOwners": OWNERS, "grants": [
        {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443", "tcp:22"]},
        {"src": ["group:ops"], "dst": ["tag:web"], "ip": ["*"]},
        {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]}]}
    src_before = SourceMap({("grants", 0): Location("policies/a.yaml", 2, 5),
                            ("grants", 1): Location("policies/a.yaml", 6, 5)})
    src_after = SourceMap({("grants", 0): Location("policies/a.yaml", 2, 5),
                           ("grants", 1): Location("policies/b.yaml", 9, 5),
                           ("grants", 2): Location("policies/b.yaml", 14, 5)})
    return access_diff(before, after, INV, before_sources=src_before, after_sources=src_after)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_markdown_golden_with_mermaid() -> None:
    text = render_markdown(_diff())
    _golden("access_diff.md", text)
    assert "```mermaid\nflowchart LR\n" in text
    assert "linkStyle 0 stroke:#1a7f37" in text


def test_text_golden() -> None:
    _golden("access_diff.txt", render_text(_diff()))


def test_mermaid_edges_are_capped_with_a_count() -> None:
    diff = _diff()
    edges = sum(len(c.dst) for c in (*diff.gained, *diff.lost))
    assert edges > 2
    text = render_markdown(diff, max_edges=2)
    assert text.count("linkStyle") == 2
    assert "_Summary of 4 arrows: groups and their tags" in text
    assert "_2 more pairs not drawn (limit 2 arrows" in text
    # Lost edges are dashed and red, gained ones solid and green.
    full = render_markdown(diff)
    assert "-.->" in full and "stroke-dasharray" in full


def _contractors_diff():  # type: ignore[no-untyped-def]
    """Contractors gain SSH on production; four of five engineers lose most of staging."""
    groups = {"group:eng": ["a@example.com", "b@example.com", "c@example.com",
                            "d@example.com", "e@example.com"],
              "group:sre": ["d@example.com"], "group:contractors": ["x@vendor.example"]}
    owners = {"tag:prod": ["group:sre"], "tag:staging": ["group:sre"]}
    inventory = inv({u: 1 for members in groups.values() for u in members},
                    {"tag:prod": 2, "tag:staging": 2})
    before = {"groups": groups, "tagOwners": owners, "grants": [
        {"src": ["group:eng"], "dst": ["tag:staging"], "ip": ["*"]},
        {"src": ["group:sre"], "dst": ["tag:staging"], "ip": ["*"]},
        {"src": ["group:eng"], "dst": ["tag:prod"], "ip": ["tcp:443"]}]}
    after = {"groups": groups, "tagOwners": owners, "grants": [
        {"src": ["group:eng"], "dst": ["tag:staging"], "ip": ["tcp:22", "tcp:443"]},
        {"src": ["group:sre"], "dst": ["tag:staging"], "ip": ["*"]},
        {"src": ["group:eng"], "dst": ["tag:prod"], "ip": ["tcp:443"]},
        {"src": ["group:contractors"], "dst": ["tag:prod"], "ip": ["tcp:22"]}]}
    return access_diff(before, after, inventory)


def _arrows(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()
            if '|"' in line and line.strip().startswith("n")]


def test_risky_gain_is_the_first_arrow_thick_and_called_out() -> None:
    text = render_markdown(_contractors_diff())
    arrows = _arrows(text)
    # People are drawn as their groups: four of five engineers, one arrow, ports as services.
    assert len(arrows) == 2, arrows
    assert arrows[0].endswith('==>|"⚠ + ssh"| n1')
    assert 'n0["group:contractors"]' in text and 'n1["tag:prod"]' in text
    assert '["group:eng (4 of 5)"]' in text and '"- all except tcp:22,443"' in text
    assert "linkStyle 0 stroke:#bc4c00,stroke-width:5px" in text
    assert "class n0,n1 risky" in text
    assert ("> - `group:contractors` gains ssh on `tag:prod`: ssh, sensitive tag:prod, "
            "from group:contractors") in text


def test_sensitive_tags_from_the_config_decide_where() -> None:
    # With tag:prod not listed as sensitive, contractors gaining SSH is still two reasons.
    text = render_markdown(_contractors_diff(), sensitive=["tag:payments"])
    assert "ssh, from group:contractors" in text
    assert "sensitive tag:prod" not in text


def test_collapsed_and_capped_table_and_no_table() -> None:
    diff = _contractors_diff()
    collapsed = render_markdown(diff, table="collapsed", max_rows=1)
    assert "<details><summary>Every access statement (" in collapsed
    assert "more statement" in collapsed and "left out" in collapsed
    bare = render_markdown(diff, table="none")
    assert "| Who |" not in bare and "```mermaid" in bare
