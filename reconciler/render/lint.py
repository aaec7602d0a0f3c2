"""Render a lint report: text for people, JSON for tools, GitHub workflow annotations.

render/ (step: report). May import: `lint` types, `render.github`. Pure.
"""

from __future__ import annotations

import json

from reconciler.lint import LintReport
from reconciler.render.github import annotation

GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def summary(report: LintReport) -> str:
    counts = ", ".join(f"{report.count(s)} {s}{'s' if s != 'info' and report.count(s) != 1 else ''}"
                       for s in ("error", "warning", "info"))
    line = f"Lint: {counts}."
    cov = report.coverage
    if cov is not None:
        line += (f" Test coverage: {len(cov.covered)} of {len(cov.entries)} rules "
                 f"({cov.percent:.0f}%).")
    return line


def render_text(report: LintReport) -> str:
    lines: list[str] = []
    for f in report.findings:
        where = f"{f.location}: " if f.location else ""
        lines.append(f"{where}{f.severity}: [{f.code}] {f.message}")
        if f.suggestion:
            lines.append(f"    suggestion: {f.suggestion}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def render_json(report: LintReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def render_github(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        message = f"{f.message} (suggestion: {f.suggestion})" if f.suggestion else f.message
        loc = f"{f.location.file}:{f.location.line}" if f.location else None
        lines.append(annotation(GITHUB_LEVEL[f.severity], message, loc, title=f.code))
    lines.append(summary(report))
    return "\n".join(lines) + "\n"
