"""The pictures reviewers and auditors look at, rendered as they see them: the plan's
Mermaid diagram as GitHub draws it (Mermaid's own bundle, vendored in tests/data/mermaid)
and the HTML access report, in Debian's Chromium driven by Playwright (no browser
download, no network), measured on the rendered SVG and DOM.

Screenshots are saved under each test's tmp dir; PICTURES_DIR=DIR also copies them there.
Chromium is installed by `.ci/run`: in CI a missing browser (or Playwright) fails the
test; on a developer machine it skips with the command that installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest

from reconciler.render.access_diff import MAX_NODES
from tests.conftest import REPO_ROOT
from tests.report.conftest import access_entries, expected_cells
from tests.report.test_report import audited_repo, git, run  # noqa: F401  (fixture)

MERMAID_JS = REPO_ROOT / "tests" / "data" / "mermaid" / "mermaid.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def _missing(what: str, install: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: .ci/run installs it ({install})")
    pytest.skip(f"no {what} on this machine: {install}")


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        _missing("chromium", "apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright", "pip install -e '.[test]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        # Nothing leaves the machine: every request but the page's own is refused.
        yield b
        b.close()


def _page(browser: Any, width: int = 1200) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())
    return page


def _keep(png: Path) -> None:
    if os.environ.get("PICTURES_DIR"):
        Path(os.environ["PICTURES_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(os.environ["PICTURES_DIR"]) / png.name)


def mermaid_block(markdown: str) -> str:
    found = re.findall(r"```mermaid\n(.*?)```", markdown, re.S)
    assert len(found) == 1, "one Mermaid block in the comment"
    return found[0]


def render_mermaid(browser: Any, code: str, png: Path) -> dict[str, Any]:
    """Draw `code` as GitHub does (Mermaid, default theme, strict security) and read the
    drawing back: its edges in order (path id, label text, label box) and its nodes."""
    page = _page(browser)
    page.set_content('<!doctype html><html><body style="margin:0;background:#fff">'
                     '<div id="out"></div></body></html>')
    page.add_script_tag(content=MERMAID_JS.read_text(encoding="utf-8"))
    error = page.evaluate("""async (code) => {
        mermaid.initialize({startOnLoad: false, theme: "default", securityLevel: "strict"});
        try {
            const {svg} = await mermaid.render("diagram", code);
            document.getElementById("out").innerHTML = svg;
            return "";
        } catch (e) { return String(e); }
    }""", code)
    assert error == "", error
    drawn = page.evaluate("""() => {
        const svg = document.querySelector("#out svg");
        const box = (el) => { const r = el.getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom]; };
        const edges = [...svg.querySelectorAll(".edgePaths path")].map((p) => p.id);
        const labels = [...svg.querySelectorAll(".edgeLabels > g.edgeLabel")].map((g) => {
            const inner = g.querySelector(".label") || g;
            return {id: inner.getAttribute("data-id") || "", text: g.textContent.trim(),
                    box: box(inner)};
        });
        const nodes = [...svg.querySelectorAll("g.node")].map((n) => ({
            id: n.id, text: n.textContent.trim(), box: box(n)}));
        return {edges, labels, nodes, size: box(svg)};
    }""")
    width, height = drawn["size"][2], drawn["size"][3]
    page.set_viewport_size({"width": max(400, int(width) + 20),
                            "height": max(200, int(height) + 20)})
    page.screenshot(path=str(png), full_page=True)
    page.close()
    _keep(png)
    return drawn


def overlapping(boxes: list[tuple[str, list[float]]]) -> list[tuple[str, str]]:
    out = []
    for i, (a, (l1, t1, r1, b1)) in enumerate(boxes):
        for b, (l2, t2, r2, b2) in boxes[i + 1:]:
            if min(r1, r2) - max(l1, l2) > 0.5 and min(b1, b2) - max(t1, t2) > 0.5:
                out.append((a, b))
    return out


def _check_readable(drawn: dict[str, Any]) -> None:
    labels = [(lab["text"], lab["box"]) for lab in drawn["labels"] if lab["text"]]
    assert labels, "the diagram has edge labels"
    assert overlapping(labels) == []
    assert overlapping([(n["text"], n["box"]) for n in drawn["nodes"]]) == []
    assert 0 < len(drawn["nodes"]) <= MAX_NODES


# --- the plan's diagram -------------------------------------------------------------------


def realistic_change(repo: Path) -> None:
    """Contractors gain SSH on production, beside several everyday staging changes."""
    acls = repo / "policies" / "acls"
    eng = (acls / "engineering.yaml").read_text()
    eng = eng.replace('dst: [tag:staging]\n    ip: ["*"]',
                      'dst: [tag:staging]\n    ip: ["tcp:22", "tcp:443", "tcp:8080"]')
    eng = eng.replace('src: [group:contractors]\n    dst: [tag:staging]\n    ip: ["tcp:443"]',
                      'src: [group:contractors]\n    dst: [tag:staging]\n'
                      '    ip: ["tcp:443", "tcp:8443"]')
    eng += ("  - name: contractors-prod-ssh\n"
            "    description: Contractors debug the payment service on production.\n"
            "    owner: group:eng\n"
            "    src: [group:contractors]\n    dst: [tag:prod]\n    ip: [\"tcp:22\"]\n"
            "  - name: data-staging-notebooks\n"
            "    owner: group:data\n"
            "    src: [group:data]\n    dst: [tag:staging]\n    ip: [\"tcp:8888\"]\n")
    (acls / "engineering.yaml").write_text(eng)
    ops = (acls / "operations.yaml").read_text()
    (acls / "operations.yaml").write_text(ops.replace('ip: ["tcp:3000", "tcp:22"]',
                                                      'ip: ["tcp:3000"]'))
    tests = repo / "policies" / "tests" / "network.yaml"  # the pull request's test update
    tests.write_text(tests.read_text().replace('accept: ["tag:db:22", "tag:monitoring:22"]',
                                               'accept: ["tag:db:22"]'))


def example_repo(root: Path, *, seed: str = "demo") -> Path:
    repo = root / "repo"
    shutil.copytree(REPO_ROOT / "policies", repo / "policies")
    (repo / "reconciler.yaml").write_text(
        f"targets:\n  local: {{backend: local, path: .reconciler/local.db, seed: {seed}}}\n")
    (repo / ".gitignore").write_text(".reconciler/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the example organisation")
    return repo


def test_realistic_change_draws_the_risky_gain_first_and_readable(
        browser: Any, tmp_path: Path) -> None:
    repo = example_repo(tmp_path)
    applied = run(repo, "apply", "--auto-approve", "--adopt")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    realistic_change(repo)
    git(repo, "commit", "-qam", "contractors on prod; staging changes")
    plan = run(repo, "plan", "--format", "markdown")
    assert plan.returncode == 0, plan.stderr
    (tmp_path / "realistic.md").write_text(plan.stdout)
    code = mermaid_block(plan.stdout)
    drawn = render_mermaid(browser, code, tmp_path / "plan-realistic.png")
    _check_readable(drawn)
    # The risky gain is drawn, and drawn first: contractors -> production, SSH.
    first = drawn["labels"][0]
    assert "⚠" in first["text"] and "+ ssh" in first["text"]
    ids = {n["text"]: n["id"] for n in drawn["nodes"]}
    contractors = re.sub(r"^.*?-(n\d+)-\d+$", r"\1", ids["group:contractors"])
    prod = re.sub(r"^.*?-(n\d+)-\d+$", r"\1", ids["tag:prod"])
    assert re.match(rf"^.*L_{contractors}_{prod}_0$", drawn["edges"][0]), drawn["edges"][0]
    # Several engineers losing most of staging is one arrow, not one per person and port.
    staging = [lab["text"] for lab in drawn["labels"] if "all except" in lab["text"]]
    assert len(staging) == 1, staging


def test_first_plan_draws_a_summary_that_fits(browser: Any, tmp_path: Path) -> None:
    repo = example_repo(tmp_path, seed="empty")
    plan = run(repo, "plan", "--format", "markdown")
    assert plan.returncode == 0, plan.stderr
    (tmp_path / "first.md").write_text(plan.stdout)
    assert len(plan.stdout) <= 60_000
    assert "_Summary of " in plan.stdout
    drawn = render_mermaid(browser, mermaid_block(plan.stdout), tmp_path / "plan-first.png")
    _check_readable(drawn)


# --- the HTML report ----------------------------------------------------------------------


def test_report_rendered_matches_access_json(browser: Any, audited_repo: Path,  # noqa: F811
                                             tmp_path: Path) -> None:
    assert run(audited_repo, "report", "-o", "report.html").returncode == 0
    page = _page(browser, width=1400)
    page.goto((audited_repo / "report.html").as_uri())
    cells = page.evaluate("""() => [...document.querySelectorAll("td[data-from]")].map(
        (td) => ({row: td.dataset.from, column: td.dataset.to,
                  text: td.classList.contains("none") ? "" : td.textContent,
                  risky: td.classList.contains("risky"),
                  visible: td.getBoundingClientRect().width > 0}))""")
    members = page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('th[scope="row"][title]')].map(
            (th) => [th.textContent, th.title.split(", ")]))""")
    png = tmp_path / "report.png"
    page.screenshot(path=str(png), full_page=True)
    page.close()
    _keep(png)
    assert cells and all(c["visible"] for c in cells)
    flat = run(audited_repo, "access", "--format", "json")
    expected = expected_cells(access_entries(json.loads(flat.stdout)))
    for c in cells:
        for src in members.get(c["row"], [c["row"]]):
            for dst in members.get(c["column"], [c["column"]]):
                assert expected.get((src, dst), "") == c["text"], (c, src, dst)
    risky = {(c["row"], c["column"]) for c in cells if c["risky"]}
    assert ("group:sre", "tag:prod") in risky


# --- the comment's size -------------------------------------------------------------------


def test_plan_comment_degrades_under_the_size_cap(tmp_path: Path) -> None:
    """A first plan: everything under the default cap; under smaller caps the access table
    folds, then shortens, then only the summary, risky gains and diagram stay, saying
    where the full plan is. No form exceeds its cap."""
    from reconciler.plan import plancheck
    from reconciler.render import markdown
    from reconciler.render.access_diff import summary

    repo = example_repo(tmp_path, seed="empty")
    saved = run(repo, "plan", "-o", "plan.json")
    assert saved.returncode in (0, 2), saved.stderr
    plan = plancheck.read(repo / "plan.json")
    full = markdown.render_plan(plan)
    assert len(full) <= markdown.MAX_CHARS < markdown.COMMENT_LIMIT
    assert "<details><summary>Show plan (" in full and "| Who |" in full
    assert "<details><summary>Every access statement" not in full
    # One statement per identity and destination (all protocols together), nothing gained.
    counts = summary(plan.access)
    assert counts.startswith("Access: 0 gained, ") and counts in full
    for cap in (len(full) - 1, 20_000, 3_000):
        text = markdown.render_plan(plan, max_chars=cap)
        assert len(text) <= cap, cap
        assert text.startswith("<!-- reconciler-plan:local -->")
        assert counts in text and "```mermaid" in text
    folded = markdown.render_plan(plan, max_chars=len(full) - 1)
    assert "<details><summary>Every access statement" in folded
    shortest = markdown.render_plan(plan, max_chars=3_000)
    assert "too long for a comment: it is in the plan file and the access report" in shortest
    assert "| Who |" not in shortest and "```diff" not in shortest
    # The diagram's notes do not send the reader to a table the comment left out.
    assert "see the table" not in shortest and "is in the table" not in shortest
    assert "table is left out of this comment for size" in shortest


def test_report_prints_to_pdf(browser: Any, audited_repo: Path,  # noqa: F811
                              tmp_path: Path) -> None:
    """Printed (Chromium's print to PDF, backgrounds off as by default), every matrix
    cell is on the page, the header does not stick, and risky cells stay marked: bold,
    and tinted as on screen (an allowed cell green, a risky one red)."""
    assert run(audited_repo, "report", "-o", "report.html").returncode == 0
    page = _page(browser, width=1400)
    page.goto((audited_repo / "report.html").as_uri())
    page.emulate_media(media="print")
    printed = page.evaluate("""() => ({
        sticky: [...document.querySelectorAll("table.matrix thead th")].map(
            (th) => getComputedStyle(th).position).filter((p) => p !== "static").length,
        hidden: [...document.querySelectorAll("td[data-from]")].filter(
            (td) => td.getBoundingClientRect().width === 0).length,
        risky: [...document.querySelectorAll("td.risky")].map(
            (td) => Number(getComputedStyle(td).fontWeight))})""")
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", landscape=True)
    page.close()
    _keep(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert printed["sticky"] == 0 and printed["hidden"] == 0
    assert printed["risky"] and all(weight >= 600 for weight in printed["risky"])
    fills = _pdf_fill_colours(pdf.read_bytes())
    assert _rgb("#dafbe1") in fills and _rgb("#ffebe9") in fills, sorted(fills)


def _rgb(css: str) -> tuple[float, float, float]:
    r, g, b = (int(css[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return round(r, 2), round(g, 2), round(b, 2)


def _pdf_fill_colours(data: bytes) -> set[tuple[float, float, float]]:
    """The RGB fill colours (`r g b rg`) of a PDF's compressed content streams."""
    found = set()
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            body = zlib.decompress(m.group(1))
        except zlib.error:
            continue  # an image or font stream
        for rgb in re.findall(rb"([0-9.]+) ([0-9.]+) ([0-9.]+) rg\b", body):
            r, g, b = (round(float(x), 2) for x in rgb)
            found.add((r, g, b))
    return found
