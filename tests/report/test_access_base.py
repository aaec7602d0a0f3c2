"""`reconciler access --base REV`: the access grid of two git revisions, cell by cell.

Through the real CLI (a subprocess) in a real git repository with two commits: a
contractor group gains SSH and HTTPS on production, CI loses SSH on production, and the
rest stays. Every cell of the diff (html's data-before / data-after, json's rows) must
say what `access --format json --ref REV` says at each revision, member by member.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import git

from tests.conftest import commit_files
from tests.report.conftest import access_entries, expected_cells, reconciler

INVENTORY = {
    "users": [{"login": u} for u in ("c1@x.com", "c2@x.com", "e1@x.com", "e2@x.com")],
    "devices": [
        {"name": "c1", "user": "c1@x.com", "ipv4": "100.64.0.1"},
        {"name": "c2", "user": "c2@x.com", "ipv4": "100.64.0.2"},
        {"name": "e1", "user": "e1@x.com", "ipv4": "100.64.0.3"},
        {"name": "e2", "user": "e2@x.com", "ipv4": "100.64.0.4"},
        {"name": "prod", "tags": ["tag:prod"], "ipv4": "100.64.0.10"},
        {"name": "staging", "tags": ["tag:staging"], "ipv4": "100.64.0.11"},
        {"name": "ci", "tags": ["tag:ci"], "ipv4": "100.64.0.12"},
    ],
}


def _policy(contractors_dst: list[str], contractors_ip: list[str],
            ci_dst: list[str]) -> str:
    return json.dumps({
        "groups": {"group:contractors": ["c1@x.com", "c2@x.com"],
                   "group:eng": ["e1@x.com", "e2@x.com"]},
        "tagOwners": {"tag:prod": [], "tag:staging": [], "tag:ci": []},
        "grants": [
            {"src": ["group:eng"], "dst": ["tag:prod", "tag:staging"], "ip": ["tcp:443"]},
            {"src": ["group:contractors"], "dst": contractors_dst, "ip": contractors_ip},
            {"src": ["tag:ci"], "dst": ci_dst, "ip": ["tcp:22"]},
            {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]},
        ],
    }, indent=2)


def _two_commits(repo: git.Repo) -> tuple[Path, str, str]:
    root = Path(repo.working_tree_dir or ".")
    (root / "inventory.json").write_text(json.dumps(INVENTORY))
    base = commit_files(repo, {"policies/policy.json": _policy(
        ["tag:staging"], ["tcp:443"], ["tag:staging", "tag:prod"])}, "base")
    head = commit_files(repo, {"policies/policy.json": _policy(
        ["tag:staging", "tag:prod"], ["tcp:443", "tcp:22"], ["tag:staging"])}, "head")
    return root, base, head


def _access(root: Path, *args: str) -> str:
    done = reconciler("access", "--inventory", "inventory.json", *args, cwd=root)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_base_marks_gained_lost_and_unchanged_cells(git_repo: git.Repo) -> None:
    root, base, _ = _two_commits(git_repo)
    text = _access(root, "--base", base, "--format", "matrix")
    lines = text.splitlines()
    columns = {line.split(" ", 1)[1]: int(line[1:line.index("]")])
               for line in lines if line.startswith("[")}
    rows = {line.split("  ", 1)[0]: re.split(r"\s{2,}", line) for line in lines[1:]
            if line and not line.startswith(("[", "+ports"))}

    def cell(row: str, column: str) -> str:
        return rows[row][columns[column]]

    assert cell("group:contractors", "tag:prod") == "+tcp 22,443"  # gained
    assert cell("group:contractors", "tag:staging") == "tcp 443; +tcp 22"
    assert cell("tag:ci", "tag:prod") == "-tcp 22"  # lost
    assert cell("tag:ci", "tag:staging") == "tcp 22"  # unchanged
    assert cell("group:eng", "tag:prod") == "tcp 443"
    assert "\x1b[" not in text  # no colours off a terminal
    assert "+ports: gained; -ports: lost; others unchanged." in lines

    md = _access(root, "--base", base, "--format", "markdown")
    contractors = next(line for line in md.splitlines()
                       if line.startswith("| `group:contractors`"))
    assert "**+tcp 22,443**" in contractors and "tcp 443; **+tcp 22**" in contractors
    ci = next(line for line in md.splitlines() if line.startswith("| `tag:ci`"))
    assert "~~tcp 22~~" in ci
    assert "~~ports~~: lost" in md

    flat = _access(root, "--base", base)
    assert flat.splitlines() == [
        "c1@x.com -> tag:prod: +tcp 22,443", "c1@x.com -> tag:staging: tcp 443; +tcp 22",
        "c2@x.com -> tag:prod: +tcp 22,443", "c2@x.com -> tag:staging: tcp 443; +tcp 22",
        "tag:ci -> tag:prod: -tcp 22"]
    assert _access(root, "--base", "HEAD") == "No access changes since HEAD.\n"

    page = _access(root, "--base", base, "--format", "html")
    classes = {(htmllib.unescape(m.group(2)), htmllib.unescape(m.group(3))): m.group(1)
               for m in re.finditer(r'<td class="([^"]*)" data-from="([^"]*)" '
                                    r'data-to="([^"]*)"', page)}
    assert classes[("group:contractors", "tag:prod")] == "gained"
    assert classes[("tag:ci", "tag:prod")] == "lost"
    assert classes[("tag:ci", "tag:staging")] == "allowed"
    assert "prefers-color-scheme: dark" in page and 'class="legend"' in page


def test_every_diff_cell_agrees_with_access_json_at_each_revision(git_repo: git.Repo
                                                                  ) -> None:
    root, base, head = _two_commits(git_repo)
    flat = {rev: access_entries(json.loads(_access(root, "--ref", rev, "--format", "json")))
            for rev in (base, head)}
    want = {rev: expected_cells(entries) for rev, entries in flat.items()}

    page = _access(root, "--base", base, "--ref", head, "--format", "html")
    members = {htmllib.unescape(m.group(2)): htmllib.unescape(m.group(1)).split(", ")
               for m in re.finditer(r'<th scope="row" title="([^"]*)">([^<]*)</th>', page)}
    checked = 0
    for m in re.finditer(r'<td class="([^"]*)" data-from="([^"]*)" data-to="([^"]*)"'
                         r'(?: data-before="([^"]*)" data-after="([^"]*)")?', page):
        row, column = htmllib.unescape(m.group(2)), htmllib.unescape(m.group(3))
        before = htmllib.unescape(m.group(4) or "")
        after = htmllib.unescape(m.group(5) or "")
        for src in members.get(row, [row]):
            for dst in members.get(column, [column]):
                assert want[base].get((src, dst), "") == before, (row, column, src, dst)
                assert want[head].get((src, dst), "") == after, (row, column, src, dst)
                checked += 1
    assert checked >= len(set(want[base]) | set(want[head]))

    data = json.loads(_access(root, "--base", base, "--ref", head, "--format", "json"))
    assert list(data)[:3] == ["format_version", "command", "base"]
    assert data["command"] == "access" and data["base"] == base
    for side, rev in (("before", base), ("after", head)):
        got = [{"from": r["from"], "to": r["to"], "ports": r[side]}
               for r in data["rows"] if r[side]]
        assert got == flat[rev]
