"""Markdown for pull-request comments: a summary, then the plan in a collapsible block.

render/ (step: report). May import: `changes`, `render.text`, `render.access_diff`, stdlib.
Pure. The first line is a hidden marker, `<!-- reconciler-plan:TARGET -->`, so a
workflow can find its earlier comment and update it in place instead of adding one per
push. Just-in-time access (who, until when in UTC, how long is left) is listed above the
collapsed plan; the access diff (risky gains, diagram, table: `render.access_diff`)
below it. A comment never exceeds GitHub's limit: see `render_plan`. The plan body is a
```diff block with each line's symbol moved to column 0, which GitHub colours (`~`
becomes `!`, which diff highlighting shows as a change).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence

from reconciler.diff.access.model import AccessDiff
from reconciler.diff.changes import DriftReport, Plan, ResourceChange, utc_text
from reconciler.render import text
from reconciler.render.access_diff import render_markdown as render_access
from reconciler.render.text import Line, drift_summary, plan_lines, summary

MD_SYMBOL = {"+": "+", "-": "-", "~": "!"}


def marker(target: str, kind: str = "plan") -> str:
    return f"<!-- reconciler-{kind}:{target} -->"


def diff_block(lines: list[Line]) -> str:
    out = []
    for line in lines:
        if line.symbol:
            out.append(f"{MD_SYMBOL[line.symbol]}{' ' * line.indent} {line.text}")
        elif line.text:
            out.append(" " + " " * line.indent + line.text)
        else:
            out.append("")
    return "```diff\n" + "\n".join(out).rstrip("\n") + "\n```"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


# GitHub refuses comments over 65,536 characters; the margin leaves room for the links
# the Action adds under the plan.
COMMENT_LIMIT = 65_536
MAX_CHARS = 60_000


def render_plan(plan: Plan, *, max_chars: int = MAX_CHARS) -> str:
    """The comment: at most `max_chars` characters. When the whole plan does not fit,
    the access table is folded and keeps the rows that fit (the plan's diff too, if it
    still fits); then the comment keeps only the summary, the risky gains and the
    diagram and says where the full plan is. Risky gains are judged with the plan's
    `sensitive_tags` (reconciler.yaml's when it was planned)."""
    add, change, destroy = plan.counts()
    t = plan.tests
    status = "✅" if plan.tests.ok and not plan.errored else "❌"
    head = [marker(plan.target), f"### {status} reconciler plan for `{plan.target}`", ""]
    if plan.has_changes:
        head.append(f"**{summary(plan)}**")
    else:
        head.append("**No changes.** The live policy matches the desired state.")
    tests = f"Tests: {t.passed} passed, {t.failed} failed"
    tests += f", {t.invalid} invalid." if t.invalid else "."
    if t.server_checked:
        tests += " Control-plane validation: " + ("passed." if t.server_ok else "**failed**.")
    head += ["", tests]
    if t.failures:
        head += ["", "| Location | Failure |", "| --- | --- |"]
        head += [f"| `{f.location or '-'}` | {_escape(f.message)} |" for f in t.failures]
    if plan.drift:
        head += ["", f"> [!WARNING]\n> {len(plan.drift)} resource(s) changed outside git since "
                     "the last apply; this plan reverts them unless they are committed."]
    for m in plan.messages:
        if m.severity == "warning":
            head += ["", f"> [!CAUTION]\n> {m.text}"]
    commit = plan.desired_commit[:12] if plan.desired_commit else "working tree"
    dirty = " (uncommitted changes)" if plan.desired_dirty else ""
    head += ["", f"Desired state: `{commit}`{dirty} · live ETag `{plan.prior_etag}`"]
    jit = [(c.address, e) for c in plan.changes for e in c.expiries]
    if jit:
        # Outside the collapsed block: a reviewer sees how long access lasts unasked.
        when = ""
        with contextlib.suppress(ValueError):  # created_at is free text in a plan file
            when = f"; time left as of {utc_text(plan.created_at)}" if plan.created_at else ""
        head += ["", f"**Just-in-time access** (times in UTC{when}):", ""]
        head += [f"- `{address}`: " + _escape(e.describe("in force" if e.subject == address
                                                          else None))
                 for address, e in jit]
    counts = f"{add} to add, {change} to change, {destroy} to destroy"

    def form(details: bool, table: str, rows: int | None) -> str:
        out = list(head)
        if (plan.has_changes or plan.drift) and details:
            out += ["", f"<details><summary>Show plan ({counts})</summary>", "",
                    diff_block(plan_lines(plan)), "", "</details>"]
        elif plan.has_changes or plan.drift:
            out += ["", f"The plan ({counts}) is too long for a comment: it is in the "
                        "plan file and the access report of this run."]
        if plan.access is not None:
            out += ["", render_access(plan.access, sensitive=plan.sensitive_tags, table=table,
                                      max_rows=rows).rstrip("\n")]
        return "\n".join(out) + "\n"

    total = len(plan.access.gained) + len(plan.access.lost) if plan.access else 0
    return fit(form, total, max_chars)


def fit(form: Callable[[bool, str, int | None], str], rows: int, max_chars: int) -> str:
    """The fullest form of a comment within `max_chars`: `form(details, table, rows)`
    whole; else the access table folded, keeping the most of its `rows` rows that fit,
    with the details (the plan's or diff's body) if they fit, else without; last,
    neither details nor table (the summary, risky gains and diagram)."""
    shown = form(True, "open", None)
    if len(shown) <= max_chars:
        return shown
    for details in (True, False):
        low, high, best = 1, rows, None  # a table of no rows says nothing
        while low <= high:
            middle = (low + high) // 2
            text = form(details, "collapsed", middle)
            if len(text) <= max_chars:
                best, low = text, middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best
    return form(False, "none", None)


def render_diff(changes: list[ResourceChange], base: str, head: str, access: AccessDiff,
                *, sensitive: Collection[str] | None = None,
                max_chars: int = MAX_CHARS, warnings: Sequence[str] = ()) -> str:
    """`reconciler diff BASE HEAD --format markdown`: the resource changes in a ```diff
    block, then the access diff; at most `max_chars` characters, shortened as
    `render_plan` is (`fit`), the resource changes going before the diagram does.
    `warnings` go first, as the plan's do."""
    body = text.render_diff(changes, base, head)
    head_line = f"<!-- reconciler-diff:{base}..{head} -->\n" + "".join(
        f"> [!WARNING]\n> {w}\n\n" for w in warnings)

    def form(details: bool, table: str, rows: int | None) -> str:
        shown = (f"```diff\n{body}```\n" if details else
                 f"The resource changes ({len(changes)}) are too long for a comment: "
                 f"`reconciler diff {base} {head}` lists them.\n")
        return (head_line + shown + "\n"
                + render_access(access, sensitive=sensitive, table=table, max_rows=rows))

    return fit(form, len(access.gained) + len(access.lost), max_chars)


def render_drift(report: DriftReport) -> str:
    status = "✅" if report.clean else "⚠️"
    out = [marker(report.target, "drift"),
           f"### {status} reconciler drift check for `{report.target}`", ""]
    if report.error:
        out.append(f"**Error:** {report.error}")
        return "\n".join(out) + "\n"
    out.append("**No drift.**" if report.clean else f"**{drift_summary(report)}**")
    for warning in report.warnings:
        out += ["", f"> [!CAUTION]\n> {warning}"]
    if not report.clean:
        body = text.render_drift(report)
        out += ["", "<details><summary>Details</summary>", "", "```", body.rstrip("\n"), "```",
                "", "</details>"]
    return "\n".join(out) + "\n"
