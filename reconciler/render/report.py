"""render/ (step: report): `reconciler report`, one self-contained HTML page for auditors.

render/ (step: report). May import: `render.matrix`, `render.access_diff`, `engine.risk`,
stdlib. Pure: the
command gathers the facts (access, lint, expiries, audit notes) and this module only
lays them out. The page fetches nothing (inline CSS, no script), reads in light and dark
mode, and prints to PDF.

Sections, most asked-for first: with a base revision, the access changes since it (risky
gains first); who can reach each sensitive tag; the access matrix;
just-in-time access with its expiry; lint findings and test coverage; the last
applies from the audit notes.

A matrix cell is marked risky by the rule `reconciler.engine.risk` states for lint, the plan's
diagram and this page alike: it hits two of SSH or an admin port or every port; a
sensitive destination; people from outside (contractors, other domains) or everyone.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.engine.risk import assess, home_domains, is_outside
from reconciler.render.access_diff import Statement
from reconciler.render.matrix import PAGE_END, Marks, Matrix, html_table_chunks, page_start


@dataclass(frozen=True)
class Expiry:
    """One just-in-time grant: a group member or a policy entry with `expires`."""

    what: str  # "group:oncall: dave@example.com" or "grants \"contractor-ssh\""
    expires: datetime
    location: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    location: str = ""


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]  # (label, value) lines under the title
    matrix: Matrix
    sensitive: list[str]
    sensitive_source: str  # how the sensitive tags were chosen, said on the page
    now: datetime
    expiries: list[Expiry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    coverage: tuple[int, int] | None = None  # (covered rules, all rules)
    untested: list[str] = field(default_factory=list)
    # `gitsource.recorded_applies`: newest first, each a note's key=value fields + commit
    applies: list[dict[str, str]] = field(default_factory=list)
    # With --base: what the base revision is called, and the access changes since it.
    base: str | None = None
    access_changes: list[Statement] = field(default_factory=list)
    access_notes: list[str] = field(default_factory=list)


def risk_marks(matrix: Matrix, sensitive: Sequence[str]) -> Marks:
    """The risky cells by `reconciler.engine.risk` (see the module docstring); a row of
    several people is judged by each of them. A cell is risky when some member and some
    (protocol, ports) part of it hit two of what, where and who: the three questions
    are independent, so this is the best part's what, plus the column's where, plus
    whether anyone of the row is from outside, which makes the row's kind."""
    people = [m for members in matrix.members.values() for m in members]
    domains = home_domains([*people, *matrix.rows])

    def row_kind(row: str) -> bool:
        return any(is_outside(who, domains) for who in (row, *matrix.members.get(row, [row])))

    def cell(outside: Hashable, column: str, text: str) -> bool:
        # "*" stands for someone from outside (everyone), "" for someone from inside.
        who = "*" if outside else ""
        return any(assess(who, column, label, ports, sensitive=sensitive).risky
                   for label, _, ports in (part.partition(" ") for part in text.split("; ")))

    return Marks(row_kind, cell)


def risky_cells(matrix: Matrix, sensitive: Sequence[str]) -> set[tuple[str, str]]:
    """The (row, column) of every risky cell, as `risk_marks` marks them."""
    marks = risk_marks(matrix, sensitive)
    return {(row, column) for row in matrix.rows for column, text in matrix.row_cells(row)
            if marks.cell(marks.row_kind(row), column, text)}


def time_left(expires: datetime, now: datetime) -> str:
    seconds = (expires - now).total_seconds()
    if seconds <= 0:
        return "expired"
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h left"
    minutes = rest % 3600 // 60
    return f"{hours} h {minutes} min left"


def _utc(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _reach_section(report: Report) -> str:
    out = ["<h2>Who can reach sensitive devices</h2>",
           f'<p class="muted">{html.escape(report.sensitive_source)}</p>']
    if not report.sensitive:
        out.append('<p class="muted">No sensitive tags.</p>')
    matrix = report.matrix
    marks = risk_marks(matrix, report.sensitive)
    # The non-empty cells of the sensitive columns, found in one pass over the rows.
    wanted = {i for i, (column, text) in enumerate(matrix.table)
              if text and column in report.sensitive}
    reach: dict[str, list[tuple[str, str]]] = {}
    for row in matrix.rows:
        for i in sorted(wanted.intersection(matrix.row_ids.get(row, ()))):
            column, text = matrix.table[i]
            reach.setdefault(column, []).append((row, text))
    for tag in report.sensitive:
        who = reach.get(tag, [])
        out.append(f'<h3 id="reach-{html.escape(tag)}">{html.escape(tag)}</h3>')
        if not who:
            out.append('<p class="muted">Nobody.</p>')
            continue
        out.append('<table class="list"><tbody>')
        for row, ports in who:
            cls = ("allowed risky" if marks.cell(marks.row_kind(row), tag, ports)
                   else "allowed")
            members = report.matrix.members.get(row, [row])
            title = f' title="{html.escape(", ".join(members))}"' if members != [row] else ""
            out.append(f'<tr><th scope="row"{title}>{html.escape(row)}</th>'
                       f'<td class="{cls}">{html.escape(ports)}</td></tr>')
        out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def _list_table(head: list[str], rows: list[list[str]]) -> str:
    """A plain table; the last column (a file:line:col) is muted."""
    out = ['<table class="list"><thead><tr>'
           + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = [f"<td>{html.escape(c)}</td>" for c in row[:-1]]
        cells.append(f'<td class="muted">{html.escape(row[-1])}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


# The access changes' table: a gained line's mark green, a lost one's red, a risky
# gain tinted as the matrix tints risky cells.
CHANGES_STYLE = """
:root { --gained: #1a7f37; --lost: #cf222e; }
@media (prefers-color-scheme: dark) { :root { --gained: #3fb950; --lost: #ff7b72; } }
table.changes td.mark { font-weight: 700; text-align: center; }
table.changes tr.gained td.mark { color: var(--gained); }
table.changes tr.lost td.mark { color: var(--lost); }
table.changes tr.risky td { background: var(--risky); }
"""


def _changes_section(report: Report) -> str:
    assert report.base is not None
    title = f"<h2>Access changes since {html.escape(report.base)}</h2>"
    if not report.access_changes:
        return title + '\n<p class="muted">No one gains or loses network access.</p>\n'
    gained = sum(1 for s in report.access_changes if s.gained)
    risky = sum(1 for s in report.access_changes if s.gained and s.risk.risky)
    out = [title, f"<p>{gained} gained, {len(report.access_changes) - gained} lost"
                  + (f"; {risky} risky gain{'s' if risky != 1 else ''}, listed first"
                     if risky else "") + ".</p>",
           '<table class="list changes"><thead><tr><th></th><th>change</th><th>risky</th>'
           "<th>rules</th></tr></thead><tbody>"]
    for s in report.access_changes:
        kind = "gained" if s.gained else "lost"
        risky_row = s.gained and s.risk.risky
        out.append(f'<tr class="{kind}{" risky" if risky_row else ""}">'
                   f'<td class="mark">{"+" if s.gained else "−"}</td>'
                   f"<td>{html.escape(s.text)}</td>"
                   f"<td>{html.escape(', '.join(s.risk.reasons)) if risky_row else ''}</td>"
                   f'<td class="muted">{html.escape("; ".join(s.rules))}</td></tr>')
    out.append("</tbody></table>")
    out.extend(f'<p class="muted">{html.escape(n)}</p>' for n in report.access_notes)
    return "\n".join(out) + "\n"


def _expiry_section(report: Report) -> str:
    out = ["<h2>Just-in-time access</h2>"]
    if not report.expiries:
        return out[0] + '\n<p class="muted">No access with an expiry.</p>\n'
    out.append(_list_table(
        ["access", "expires", "left", "reason", "where"],
        [[e.what, _utc(e.expires), time_left(e.expires, report.now), e.reason, e.location]
         for e in sorted(report.expiries, key=lambda e: e.expires)]))
    return "\n".join(out) + "\n"


def _lint_section(report: Report) -> str:
    out = ["<h2>Lint and test coverage</h2>"]
    if report.coverage is not None:
        covered, total = report.coverage
        percent = 100.0 * covered / total if total else 100.0
        out.append(f"<p>Tests exercise {covered} of {total} rules ({percent:.0f}%).</p>")
        if report.untested:
            out.append("<p>Untested: " + ", ".join(
                f"<code>{html.escape(u)}</code>" for u in report.untested) + "</p>")
    if not report.findings:
        out.append('<p class="muted">No findings.</p>')
    else:
        out.append(_list_table(["severity", "check", "finding", "where"],
                               [[f.severity, f.code, f.message, f.location]
                                for f in report.findings]))
    return "\n".join(out) + "\n"


def _etags(entry: dict[str, str], older: dict[str, str] | None) -> str:
    """ETag before -> after, shortened (`reconciler history` has them whole), and whether
    the live policy changed between the previous apply to the target and this one."""
    def short(etag: str) -> str:
        bare = etag.strip('"')  # HTTP quotes its ETags; the notes keep them as sent
        return bare[:12] if len(bare) > 12 else bare

    text = f"{short(entry.get('etag_before', '?'))} → {short(entry.get('etag_after', '?'))}"
    if older is not None and older.get("etag_after") != entry.get("etag_before"):
        text += " (the live policy had changed since the previous apply)"
    return text


def _applies_section(report: Report) -> str:
    out = ["<h2>Last applies</h2>"]
    if not report.applies:
        return out[0] + ('\n<p class="muted">No audit notes (refs/notes/reconciler): '
                         "apply with --git-note to record them.</p>\n")
    shown = report.applies[:20]
    rows = []
    for i, entry in enumerate(shown):
        # The chain is read per target: the next older apply to the same target.
        older = next((e for e in report.applies[i + 1:]
                      if e.get("target") == entry.get("target")), None)
        pr = f" (#{entry['pull_request']})" if entry.get("pull_request") else ""
        rows.append([entry.get("at", "?").replace("T", " ").replace("Z", " UTC"),
                     entry.get("target", "?"), entry["commit"][:12],
                     entry.get("actor", "") + pr, _etags(entry, older)])
    out.append(_list_table(["applied", "target", "commit", "by", "policy ETag"], rows))
    if len(report.applies) > len(shown):
        out.append(f'<p class="muted">{len(report.applies) - len(shown)} older applies: '
                   "see <code>reconciler history</code>.</p>")
    return "\n".join(out) + "\n"


def render(report: Report) -> str:
    return "".join(chunks(report))


def chunks(report: Report) -> Iterator[str]:
    """The page in pieces, to write as they come: a large tailnet's grid is hundreds of
    MB of HTML, never to be held whole."""
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                    for k, v in report.facts)
    yield page_start(report.title, style=CHANGES_STYLE if report.base is not None else "")
    yield "\n".join([
        f"<h1>{html.escape(report.title)}</h1>",
        f'<dl class="facts">{facts}</dl>',
        *([_changes_section(report)] if report.base is not None else []),
        _reach_section(report),
        "<h2>Access matrix</h2>",
        '<p class="muted">Rows: groups (users with the same access), users, and tags as '
        "sources. Columns: tags, other destinations, and users' own devices. Cells: the "
        "ports allowed. Marked cells are risky: two of SSH, an admin port or every port; a "
        "sensitive destination; people from outside or everyone.</p>",
        ""])
    yield from html_table_chunks(report.matrix,
                                 marks=risk_marks(report.matrix, report.sensitive))
    yield "\n".join(["", _expiry_section(report), _lint_section(report),
                     _applies_section(report)])
    yield PAGE_END
