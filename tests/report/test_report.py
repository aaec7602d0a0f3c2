"""`reconciler report` as an auditor gets it: made after real applies in a real git
repository, then opened in a real browser (Debian's Chromium, headless, no network).

Chromium is installed by `.ci/run`. In CI a missing browser fails the test; on a
developer machine it skips with the command that installs it.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.report.conftest import access_entries, expected_cells

NOW = "2026-12-02T12:00:00Z"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "RECONCILER_JOBS": "1"}
    return subprocess.run([sys.executable, "-m", "reconciler", "--now", NOW, *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def audited_repo(tmp_path: Path) -> Path:
    """The example organisation, with a contractor added for three days, applied twice
    with audit notes."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "policies", repo / "policies")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the example organisation")
    assert run(repo, "apply", "--auto-approve", "--adopt", "--git-note").returncode == 0
    groups = repo / "policies" / "groups.yaml"
    text = groups.read_text()
    assert "  group:contractors:\n" in text
    groups.write_text(text.replace(
        "  group:contractors:\n",
        "  group:contractors:\n    - {user: vic@vendor.example, expires: 2026-12-05, "
        "reason: \"migration INC-42\"}\n", 1))
    git(repo, "commit", "-qam", "vic joins the contractors until 2026-12-05")
    applied = run(repo, "apply", "--auto-approve", "--git-note")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return repo


def test_report_tells_the_audit_story(audited_repo: Path) -> None:
    out = run(audited_repo, "report", "-o", "report.html")
    assert out.returncode == 0, out.stderr
    page = (audited_repo / "report.html").read_text()
    # Self-contained: nothing to fetch, nothing to run.
    for needle in ("<script", "<link", " src=", "http://", "https://", "@import"):
        assert needle not in page
    assert "group:contractors: vic@vendor.example" in page
    assert "2026-12-05 00:00 UTC" in page and "2 days 12 h left" in page
    assert "migration INC-42" in page  # the reason written with the member
    assert "Untested: " in page and "&quot;finance-office-printers&quot;" in page  # by name
    assert "Who can reach sensitive devices" in page and 'id="reach-tag:prod"' in page


class _Tables(html.parser.HTMLParser):
    """Each table after an <h2>, by that heading: its rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._heading: str | None = None
        self._text: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h2", "td", "th"):
            self._text = ""
        elif tag == "tr":
            self._row = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._heading, self._text = self._text, None
            self.tables[self._heading or ""] = []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._text or "")
            self._text = None
        elif tag == "tr" and self._row is not None and self._heading is not None:
            self.tables[self._heading].append(self._row)
            self._row = None


def test_report_lists_the_applies_and_where_the_chain_broke(audited_repo: Path) -> None:
    """An auditor reads who applied what, newest first, and sees that the live policy
    was changed outside reconciler before the latest apply (a console edit)."""
    edited = run(audited_repo, "local", "edit", "--set", "randomizeClientPort", "true")
    assert edited.returncode == 0, edited.stderr
    reverted = run(audited_repo, "apply", "--auto-approve", "--git-note")
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr

    out = run(audited_repo, "report", "-o", "report.html")
    assert out.returncode == 0, out.stderr
    parser = _Tables()
    parser.feed((audited_repo / "report.html").read_text())
    head, *rows = parser.tables["Last applies"]
    assert head == ["applied", "target", "commit", "by", "policy ETag"]
    commits = git(audited_repo, "log", "--format=%H").split()
    # Three applies: the first two on their commits, the revert on HEAD again.
    assert [r[2] for r in rows] == [c[:12] for c in (commits[0], commits[0], commits[1])]
    assert all(r[1] == "local" and r[0].endswith(" UTC") for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{12} → [0-9a-f]{12}( \(.*\))?", r[4]) for r in rows)
    changed = "the live policy had changed since the previous apply"
    assert changed in rows[0][4]  # the console edit came between the second and third
    assert not any(changed in r[4] for r in rows[1:])


class _Cells(html.parser.HTMLParser):
    """The grid's cells (by data-from/data-to) and the risky ones, from a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.risky: set[tuple[str, str]] = set()
        self.members: dict[str, list[str]] = {}
        self._cell: tuple[str, str] | None = None
        self._row_title: str | None = None
        self._in_row_head = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-from" in a:
            self._cell = (a["data-from"], a["data-to"])
            self._text = ""
            if "risky" in a.get("class", ""):
                self.risky.add(self._cell)
            if "none" in a.get("class", ""):
                self._text = None  # type: ignore[assignment]
        elif tag == "th" and a.get("scope") == "row":
            self._in_row_head, self._row_title, self._text = True, a.get("title"), ""

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells[self._cell] = self._text or ""
            self._cell, self._text = None, ""
        elif tag == "th" and self._in_row_head:
            if self._row_title:
                self.members[self._text] = self._row_title.split(", ")
            self._in_row_head, self._text = False, ""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("no chromium on this machine: apt-get install -y chromium")


def browse(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--hide-scrollbars", *args, url],
        capture_output=True, text=True, timeout=120)


def test_report_in_a_browser_matches_access_json(audited_repo: Path, tmp_path: Path) -> None:
    assert run(audited_repo, "report", "-o", "report.html").returncode == 0
    url = (audited_repo / "report.html").as_uri()
    dom = browse(url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Cells()
    parsed.feed(dom.stdout)
    assert parsed.cells, "the browser shows no matrix cells"
    flat = run(audited_repo, "access", "--format", "json")
    expected = expected_cells(access_entries(json.loads(flat.stdout)))
    for (row, column), text in parsed.cells.items():
        for src in parsed.members.get(row, [row]):
            for dst in parsed.members.get(column, [column]):
                assert expected.get((src, dst), "") == text, (row, column, src, dst)
    # The one rule every reader must see: SSH and everything on production is marked.
    assert ("group:sre", "tag:prod") in parsed.risky
    assert all(column == "tag:prod" for _, column in parsed.risky)
    for scheme, flag in (("light", []), ("dark", ["--force-dark-mode",
                                                  "--blink-settings=preferredColorScheme=0"])):
        shot = tmp_path / f"report-{scheme}.png"
        taken = browse(url, *flag, "--window-size=1400,1800", f"--screenshot={shot}")
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_report_with_a_base_shows_the_pull_requests_access_changes(
        audited_repo: Path) -> None:
    """The PR artifact: `report --base` lists what `diff` says changed, the risky gain
    first with why it is risky and the rule that gives it."""
    engineering = audited_repo / "policies" / "acls" / "engineering.yaml"
    engineering.write_text(engineering.read_text().replace(
        '    dst: [tag:staging]\n    ip: ["*"]', '    dst: [tag:staging]\n    ip: ["tcp:443"]', 1)
        + "  - name: contractors-prod-ssh\n    src: [group:contractors]\n"
          "    dst: [tag:prod]\n    ip: [\"tcp:22\"]\n")
    git(audited_repo, "commit", "-qam", "contractors ssh on prod; eng only https on staging")

    out = run(audited_repo, "report", "--base", "HEAD~1", "-o", "pr.html")
    assert out.returncode == 0, out.stderr
    parser = _Tables()
    parser.feed((audited_repo / "pr.html").read_text())
    head, *rows = parser.tables["Access changes since HEAD~1"]
    assert head == ["", "change", "risky", "rules"]
    mark, change, risky, rules = rows[0]
    assert (mark, change) == ("+", "group:contractors gains tcp:22 on tag:prod (1 device)")
    assert "ssh" in risky and "tag:prod" in risky
    assert rules.startswith('grants["contractors-prod-ssh"] at policies/acls/engineering.yaml:')

    # The same statements as `diff`'s access section, gains then losses.
    said = run(audited_repo, "diff", "HEAD~1", "HEAD").stdout
    section = said.split("Access changes:\n", 1)[1].split("\nAccess: ", 1)[0]
    expected = [(line[2], line[4:].split("  [", 1)[0]) for line in section.splitlines()]
    assert [("+" if m == "+" else "-", c) for m, c, _, _ in rows] == expected
    assert sum(m == "−" for m, _, _, _ in rows) == 4  # eng's four people lose staging

    # Without --base the page has no such section.
    assert run(audited_repo, "report", "-o", "plain.html").returncode == 0
    assert "Access changes since" not in (audited_repo / "plain.html").read_text()
