"""Access diff renderers: golden Markdown with its Mermaid graph, the edge cap, text."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.source import Location, SourceMap
from reconciler.diff.access import access_diff, render_markdown, render_text
from tests.access.test_access_diff import GROUPS, INV, OWNERS

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
    assert f"_{edges - 2} more edge" in text
    # Lost edges are dashed and red, gained ones solid and green.
    full = render_markdown(diff)
    assert "-.->" in full and "stroke-dasharray" in full
