"""GitHub Actions workflow commands: annotations for failures, notices for the summary.

render/ (step: report). May import: `changes`, `render.text`, `render.markdown`, stdlib.
Pure. Test failures become `::error file=...,line=...,col=...::` at the test's own
file:line, so they show on the pull request's diff; drift becomes `::warning`; the plan
summary `::notice`. `step_summary` is the page the CLI adds to the job's step summary.
Messages are escaped as the runner requires (%, CR, LF; and , : in properties).
"""

from __future__ import annotations

from reconciler.diff.changes import DriftReport, Plan
from reconciler.render import markdown
from reconciler.render.text import DRIFT_VERBS, PLAN_VERBS, drift_summary, summary


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, location: str | None = None,
               title: str | None = None) -> str:
    props = []
    if location:
        file, _, rest = location.partition(":")
        line, _, col = rest.partition(":")
        props.append(f"file={_escape_prop(file)}")
        if line.isdigit():
            props.append(f"line={line}")
        if col.isdigit():
            props.append(f"col={col}")
    if title:
        props.append(f"title={_escape_prop(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def render_plan(plan: Plan) -> str:
    out = []
    for m in plan.messages:
        level = {"error": "error", "warning": "warning"}.get(m.severity, "notice")
        out.append(annotation(level, m.text, m.location))
    for f in plan.tests.failures:
        out.append(annotation("error", f.message, f.location,
                              title="invalid test" if f.invalid else "test failed"))
    if plan.tests.server_checked and not plan.tests.server_ok:
        detail = "\n".join(plan.tests.server_failures)
        out.append(annotation("error", f"control-plane validation failed: "
                                       f"{plan.tests.server_message}\n{detail}".rstrip()))
    for c in plan.drift:
        out.append(annotation("warning", f"{c.address} {DRIFT_VERBS[c.action]}; this plan "
                                         "reverts it", title="drift"))
    for c in plan.changes:
        jit = "".join("; " + e.describe("in force" if e.subject == c.address else None)
                      for e in c.expiries if not e.expired)  # just-in-time: until when
        out.append(annotation("notice", f"{c.address} {PLAN_VERBS[c.action]}{jit}", c.location))
    t = plan.tests
    out.append(annotation("notice", f"{summary(plan) if plan.has_changes else 'No changes.'} "
                                    f"Tests: {t.passed} passed, {t.failed} failed.",
                          title=f"reconciler plan: {plan.target}"))
    return "\n".join(out) + "\n"


def step_summary(plan: Plan) -> str:
    """What `plan --format github` adds to the job's step summary (the page GitHub shows
    for the run): the plan as a pull-request comment shows it."""
    return markdown.render_plan(plan)


def render_drift(report: DriftReport) -> str:
    if report.error:
        return annotation("error", report.error, title=f"drift: {report.target}") + "\n"
    out = [annotation("warning", f"{c.address} {DRIFT_VERBS[c.action]}", title="drift")
           for c in report.out_of_band]
    if report.clean:
        out.append(annotation("notice", "No drift.", title=f"drift: {report.target}"))
    else:
        out.append(annotation("warning", drift_summary(report), title=f"drift: {report.target}"))
    return "\n".join(out) + "\n"
