"""Terraform-style human output for plans, drift reports and apply results.

render/ (step: report). May import: `changes`, `render.access_diff`, stdlib. Pure: data
in, str out. The page follows Terraform's plan page: drift first ("has changed outside
git"), a legend of only the symbols used, one `# <address> will be ...` header per
resource with reasons on their own `# (...)` lines and just-in-time access on
`# who until <UTC time> (<time> left): reason` lines, field lines with + - ~, unchanged
members collapsed, the test results, the summary line and the saved-plan footer.
`plan_lines` is shared with the Markdown renderer, which moves the symbols to column 0
so GitHub colours them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.diff.access.model import AccessDiff
from reconciler.diff.changes import (
    Action,
    ApplyResult,
    DeviceTagChange,
    DriftReport,
    FieldChange,
    Origin,
    Plan,
    ResourceChange,
    TestResults,
)
from reconciler.render.access_diff import render_text as render_access

RULE = "─" * 77
COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "~": "\x1b[33m"}
RESET = "\x1b[0m"
BOLD = "\x1b[1m"

PLAN_VERBS = {Action.CREATE: "will be created", Action.UPDATE: "will be updated in-place",
              Action.DELETE: "will be destroyed"}
DRIFT_VERBS = {Action.CREATE: "has been created outside git",
               Action.UPDATE: "has changed outside git",
               Action.DELETE: "has been deleted outside git"}
APPLY_VERBS = {Action.CREATE: "created", Action.UPDATE: "updated in-place",
               Action.DELETE: "destroyed"}
LEGEND = {Action.CREATE: "create", Action.UPDATE: "update in-place", Action.DELETE: "destroy"}
ELEMENT = {"members": "member", "owners": "owner", "approvers": "approver",
           "tags": "tag", "addresses": "address", "conditions": "condition"}


@dataclass(frozen=True)
class Line:
    """One output line: `symbol` is "+", "-", "~" or "" (then `text` may be a comment)."""

    indent: int
    symbol: str
    text: str


def value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1] + 'es' if word.endswith('ss') else word + 's'}"


def _set_lines(f: FieldChange, indent: int, element: str) -> list[Line]:
    """Members of a set-like value opened at column `indent` (symbol column)."""
    out = [Line(indent + 4, "+", value(a) + ",") for a in f.added]
    out += [Line(indent + 4, "-", value(r) + ",") for r in f.removed]
    if f.unchanged:
        out.append(Line(indent + 6, "", f"# ({_plural(f.unchanged, 'unchanged ' + element)}"
                                        " hidden)"))
    out.append(Line(indent + 2, "", "]"))
    return out


def _field_lines(f: FieldChange, indent: int, width: int) -> list[Line]:
    name = f.field.ljust(width)
    if f.is_set:
        if not f.removed and not f.unchanged:
            return [Line(indent, "+", f"{name} = {value(list(f.added))}")]
        if not f.added and not f.unchanged:
            return [Line(indent, "-", f"{name} = {value(list(f.removed))} -> null")]
        return [Line(indent, "~", f"{name} = ["),
                *_set_lines(f, indent, ELEMENT.get(f.field, "element"))]
    if f.before is None:
        return [Line(indent, "+", f"{name} = {value(f.after)}")]
    if f.after is None:
        return [Line(indent, "-", f"{name} = {value(f.before)} -> null")]
    return [Line(indent, "~", f"{name} = {value(f.before)} -> {value(f.after)}")]


def change_lines(c: ResourceChange, verb: str, *, indent: int = 2) -> list[Line]:
    """The block of one resource change: comment header(s), then its fields."""
    out = [Line(indent, "", f"# {c.address} {verb}")]
    if c.reason:
        out.append(Line(indent, "", f"# ({c.reason})"))
    # Just-in-time access: until when, in UTC, and how long is left (what ran out is
    # already said by the reason).
    out += [Line(indent, "", "# " + e.describe("in force" if e.subject == c.address else None))
            for e in c.expiries if not e.expired]
    sym = c.action.symbol
    entry = isinstance(c.after if c.after is not None else c.before, dict)
    if not entry and len(c.fields) == 1:
        f = c.fields[0]
        if f.is_set and c.action is Action.UPDATE:
            out.append(Line(indent, sym, f"{c.address} = ["))
            out += _set_lines(f, indent, ELEMENT.get(f.field, "element"))
        elif c.action is Action.UPDATE:
            out.append(Line(indent, sym, f"{c.address} = {value(f.before)} -> {value(f.after)}"))
        elif c.action is Action.CREATE:
            out.append(Line(indent, sym, f"{c.address} = {value(c.after)}"))
        else:
            out.append(Line(indent, sym, f"{c.address} = {value(c.before)} -> null"))
        return out
    out.append(Line(indent, sym, f"{c.address} {{"))
    width = max((len(f.field) for f in c.fields), default=0)
    for f in c.fields:
        out += _field_lines(f, indent + 4, width)
    if c.unchanged_fields:
        out.append(Line(indent + 6, "", f"# ({_plural(c.unchanged_fields, 'unchanged attribute')}"
                                        " hidden)"))
    out.append(Line(indent + 2, "", "}"))
    return out


def device_lines(d: DeviceTagChange, verb: str, *, indent: int = 2) -> list[Line]:
    out = [Line(indent, "", f"# {d.address} {verb}")]
    if d.origin is Origin.DRIFT:
        out.append(Line(indent, "", "# (reverts a change made outside git)"))
    f = FieldChange("tags", added=tuple(sorted(set(d.after) - set(d.before))),
                    removed=tuple(sorted(set(d.before) - set(d.after))),
                    unchanged=len(set(d.before) & set(d.after)), is_set=True)
    out.append(Line(indent, "~", f"{d.address} = ["))
    out += _set_lines(f, indent, "tag")
    return out


def render_lines(lines: Iterable[Line], *, color: bool = False) -> str:
    out = []
    for line in lines:
        if line.symbol:
            sym = line.symbol
            if color:
                sym = COLORS.get(sym, "") + sym + RESET
            out.append(" " * line.indent + sym + " " + line.text)
        elif line.text:
            out.append(" " * line.indent + line.text)
        else:
            out.append("")
    return "\n".join(out)


def _blank() -> Line:
    return Line(0, "", "")


def drift_lines(plan_drift: list[ResourceChange], base_commit: str | None) -> list[Line]:
    since = f" (commit {base_commit[:12]})" if base_commit else ""
    out = [Line(0, "", "Note: Objects have changed outside of git"), _blank(),
           Line(0, "", "reconciler detected the following changes made outside of git "
                        f"since the last apply{since}:"), _blank()]
    for c in plan_drift:
        out += change_lines(c, DRIFT_VERBS[c.action])
        out.append(_blank())
    out.append(Line(0, "", "Unless these changes are committed to git, this plan will "
                            "revert them."))
    return out


def action_lines(plan: Plan, verbs: dict[Action, str]) -> list[Line]:
    out: list[Line] = []
    for c in plan.changes:
        out += change_lines(c, verbs[c.action])
        out.append(_blank())
    for d in plan.device_changes:
        out += device_lines(d, verbs[Action.UPDATE])
        out.append(_blank())
    return out


def legend_lines(plan: Plan) -> list[Line]:
    used = {c.action for c in plan.changes}
    if plan.device_changes:
        used.add(Action.UPDATE)
    out = [Line(0, "", "Resource actions are indicated with the following symbols:")]
    out += [Line(2, a.symbol, LEGEND[a]) for a in (Action.CREATE, Action.UPDATE, Action.DELETE)
            if a in used]
    return out


def tests_lines(t: TestResults) -> list[Line]:
    head = f"Tests: {t.passed} passed, {t.failed} failed"
    head += f", {t.invalid} invalid." if t.invalid else "."
    if t.inventory:
        head += f" (inventory: {t.inventory})"
    out = [Line(0, "", head)]
    for f in t.failures:
        where = f"{f.location}: " if f.location else ""
        out.append(Line(2, "", f"{where}{'invalid: ' if f.invalid else ''}{f.message}"))
    if t.server_checked:
        if t.server_ok:
            out.append(Line(0, "", "Control-plane validation: passed."))
        else:
            out.append(Line(0, "", f"Control-plane validation: failed: {t.server_message}"))
            out += [Line(2, "", m) for m in t.server_failures]
    return out


def access_lines(access: AccessDiff | None) -> list[Line]:
    """The "Access changes" section: who gains and who loses what, after the resources."""
    if access is None:
        return []
    return [Line(0, "", line) for line in render_access(access).splitlines()] + [_blank()]


def summary(plan: Plan) -> str:
    add, change, destroy = plan.counts()
    return f"Plan: {add} to add, {change} to change, {destroy} to destroy."


def plan_lines(plan: Plan) -> list[Line]:
    """The body of a plan page (without the saved-plan footer)."""
    out: list[Line] = []
    for m in plan.messages:
        if m.severity != "notice":
            where = f"{m.location}: " if m.location else ""
            out.append(Line(0, "", f"{m.severity.capitalize()}: {where}{m.text}"))
    if out:
        out.append(_blank())
    if plan.drift:
        out += drift_lines(plan.drift, plan.base_commit)
        out += [_blank(), Line(0, "", RULE), _blank()]
    if plan.has_changes:
        out += legend_lines(plan)
        out += [_blank(), Line(0, "", "reconciler will perform the following actions on "
                                       f'target "{plan.target}":'), _blank()]
        out += action_lines(plan, PLAN_VERBS)
        out += access_lines(plan.access)
    else:
        out += [Line(0, "", "No changes. The live policy matches the desired state."),
                _blank()]
    out += tests_lines(plan.tests)
    if plan.has_changes:
        out += [_blank(), Line(0, "", summary(plan))]
    return out


def footer(plan: Plan, plan_path: str | None) -> str:
    if not plan.has_changes:
        return ""
    if not plan.applyable:
        return ("\nThis plan cannot be applied: "
                + ("the tests failed." if not plan.tests.ok else "planning reported errors.")
                + "\n")
    if plan_path:
        return (f"\n{RULE}\n\nSaved the plan to: {plan_path}\n\n"
                "To perform exactly these actions, run:\n"
                f"    reconciler apply {plan_path}\n")
    return (f"\n{RULE}\n\nNote: You didn't use the -o option to save this plan, so reconciler "
            "can't guarantee\nto take exactly these actions if you run \"reconciler apply\" "
            "now.\n")


def render_plan(plan: Plan, *, plan_path: str | None = None, color: bool = False,
                show_footer: bool = True) -> str:
    body = render_lines(plan_lines(plan), color=color) + "\n"
    return body + footer(plan, plan_path) if show_footer else body


def render_apply(result: ApplyResult, *, color: bool = False) -> str:
    """Past tense: what apply did."""
    if not result.pushed and not result.device_changes:
        return "No changes. Nothing was applied.\n"
    lines: list[Line] = []
    for c in result.changes:
        lines += change_lines(c, APPLY_VERBS[c.action])
        lines.append(_blank())
    for d in result.device_changes:
        lines += device_lines(d, "updated in-place")
        lines.append(_blank())
    add = sum(1 for c in result.changes if c.action is Action.CREATE)
    change = sum(1 for c in result.changes if c.action is Action.UPDATE)
    change += len(result.device_changes)
    destroy = sum(1 for c in result.changes if c.action is Action.DELETE)
    text = render_lines(lines, color=color)
    done = f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."
    if result.found_live:
        # A retried push met a policy that already was the document: honest about it.
        done = ("Apply complete, with a caveat: the live policy is exactly this plan's "
                "document,\nbut the push was retried after a failed attempt and found it "
                "already stored:\neither that attempt stored it before its answer was lost, "
                "or this plan had\nbeen applied before. Resources as planned: "
                f"{add} added, {change} changed, {destroy} destroyed.")
    if color:
        done = BOLD + COLORS["+"] + done + RESET
    etags = (f"Target \"{result.target}\": ETag {result.etag_before} -> {result.etag_after}."
             if result.pushed else f'Target "{result.target}": policy unchanged.')
    return f"{text}\n{done}\n{etags}\n"


def render_drift(report: DriftReport, *, color: bool = False) -> str:
    lines: list[Line] = [Line(0, "", f'Drift check of target "{report.target}"'), _blank()]
    if report.error:
        return render_lines(lines) + f"\nError: {report.error}\n"
    lines += [Line(0, "", f"Warning: {w}") for w in report.warnings]
    if report.warnings:
        lines.append(_blank())
    if report.out_of_band:
        since = f" (commit {report.base_commit[:12]})" if report.base_commit else ""
        lines += [Line(0, "", f"Changed outside git since the last apply{since}:"), _blank()]
        for c in report.out_of_band:
            lines += change_lines(c, DRIFT_VERBS[c.action])
            lines.append(_blank())
    if report.pending:
        lines += [Line(0, "", "Pending git changes, not applied yet:"), _blank()]
        for c in report.pending:
            lines += change_lines(c, PLAN_VERBS[c.action])
            lines.append(_blank())
    if report.conflicts:
        lines += [Line(0, "", "Changed both in git and outside git:"), _blank()]
        for c in report.conflicts:
            lines += change_lines(c, PLAN_VERBS[c.action])
            lines.append(_blank())
    for d in report.device_changes:
        lines += device_lines(d, PLAN_VERBS[Action.UPDATE])
        lines.append(_blank())
    if report.clean:
        lines.append(Line(0, "", "No drift. The live policy matches the desired state."))
    else:
        lines.append(Line(0, "", drift_summary(report)))
    return render_lines(lines, color=color) + "\n"


def drift_summary(report: DriftReport) -> str:
    parts = [f"{len(report.out_of_band)} changed outside git",
             f"{len(report.pending)} pending in git",
             f"{len(report.conflicts)} conflicting"]
    if report.device_changes:
        parts.append(f"{len(report.device_changes)} device tag changes")
    return "Drift: " + ", ".join(parts) + "."


def render_diff(changes: list[ResourceChange], base: str, head: str,
                access: AccessDiff | None = None) -> str:
    """`reconciler diff BASE HEAD`: resource changes between two git revisions."""
    if not changes:
        return f"No changes between {base} and {head}.\n"
    lines: list[Line] = []
    verbs = {Action.CREATE: "is added", Action.UPDATE: "is changed",
             Action.DELETE: "is removed"}
    for c in changes:
        lines += change_lines(c, verbs[c.action])
        lines.append(_blank())
    lines += access_lines(access)
    add = sum(1 for c in changes if c.action is Action.CREATE)
    change = sum(1 for c in changes if c.action is Action.UPDATE)
    destroy = sum(1 for c in changes if c.action is Action.DELETE)
    lines.append(Line(0, "", f"Diff {base}..{head}: {add} added, {change} changed, "
                              f"{destroy} removed."))
    return render_lines(lines) + "\n"
